"""The Kubernetes manifests (deploy/kubernetes) offline: each resource validates strictly against
the Kubernetes API schemas (kubernetes-validate), kustomize renders them when kubectl is at
hand, and they say what the service needs: roles, probes, the Secret, a drain that fits the
grace period, autoscaling of the workers. Nothing here talks to a cluster."""
import glob
import os
import shutil
import subprocess

import kubernetes_validate
import pytest
import yaml

from segtools.testing import REPO

FOLDER = os.path.join(REPO, "deploy", "kubernetes")


def resources():
    out = []
    for path in sorted(glob.glob(os.path.join(FOLDER, "*.yaml"))):
        if os.path.basename(path) == "kustomization.yaml":
            continue
        with open(path) as f:
            out += [(os.path.basename(path), doc) for doc in yaml.safe_load_all(f) if doc]
    return out


def by_kind(kind):
    return {doc["metadata"]["name"]: doc for _, doc in resources() if doc["kind"] == kind}


@pytest.mark.parametrize("name,doc", resources(), ids=lambda x: x if isinstance(x, str) else x["metadata"]["name"])
def test_each_resource_validates_strictly(name, doc):
    kubernetes_validate.validate(doc, "1.30", strict=True)


def test_kustomization_lists_every_applied_file_and_renders():
    with open(os.path.join(FOLDER, "kustomization.yaml")) as f:
        listed = set(yaml.safe_load(f)["resources"])
    files = {os.path.basename(p) for p in glob.glob(os.path.join(FOLDER, "*.yaml"))} - {"kustomization.yaml", "secret.example.yaml"}
    assert listed == files
    if shutil.which("kubectl"):
        rendered = list(yaml.safe_load_all(subprocess.run(["kubectl", "kustomize", FOLDER], check=True, capture_output=True,
                                                          text=True).stdout))
        assert {d["kind"] for d in rendered} >= {"Deployment", "Service", "ConfigMap", "HorizontalPodAutoscaler", "PodDisruptionBudget"}


def test_deployments_run_the_roles_with_probes_secret_and_a_drain_that_fits():
    config = yaml.safe_load(by_kind("ConfigMap")["segserve-config"]["data"]["segserve.yaml"])
    drain = config.get("drain_timeout", 30)
    roles = {}
    for name, deployment in by_kind("Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        env = {e["name"]: e for e in container["env"]}
        roles[name] = env["SEGSERVE_ROLE"]["value"]
        assert env["SEGSERVE_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "segserve-database"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert pod["terminationGracePeriodSeconds"] >= drain + pause, "SIGTERM's drain must finish inside the grace period"
        assert any(v["configMap"]["name"] == "segserve-config" for v in pod["volumes"] if "configMap" in v)
    assert roles == {"segserve-api": "api", "segserve-worker": "worker"}
    service = by_kind("Service")["segserve"]
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "api"
    hpa = by_kind("HorizontalPodAutoscaler")["segserve-worker"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "segserve-worker"
    assert {p["metadata"]["name"] for p in by_kind("PodDisruptionBudget").values()} == {"segserve-api", "segserve-worker"}
