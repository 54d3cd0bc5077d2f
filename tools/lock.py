"""Writes requirements.txt: every distribution that pyproject.toml's requirements pull in, at
the version installed now, so a fresh machine installs exactly what the tests passed with.

    python3 -m segtools.lock
"""
import importlib.metadata as metadata
import os
import tomllib

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

HERE = os.path.dirname(os.path.abspath(__file__))


def closure(requirements):
    """{canonical name: (name, version)} of the installed distributions `requirements` need."""
    environment = default_environment()
    seen, todo = {}, [Requirement(r) for r in requirements]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in seen or (requirement.marker and not requirement.marker.evaluate(dict(environment, extra=""))):
            continue
        distribution = metadata.distribution(requirement.name)
        seen[name] = (distribution.metadata["Name"], distribution.version)
        for extra in requirement.extras:
            todo += [r for r in map(Requirement, distribution.requires or [])
                     if r.marker and r.marker.evaluate(dict(environment, extra=extra))]
        todo += [Requirement(r) for r in distribution.requires or []]
    return seen


def main():
    with open(os.path.join(HERE, "pyproject.toml"), "rb") as f:
        direct = tomllib.load(f)["project"]["dependencies"]
    pins = sorted(closure(direct).values(), key=lambda p: canonicalize_name(p[0]))
    with open(os.path.join(HERE, "requirements.txt"), "w") as f:
        f.write("# Written by `python3 -m segtools.lock` from pyproject.toml's requirements: every package, pinned.\n")
        f.writelines(f"{name}=={version}\n" for name, version in pins)
    print(f"{len(pins)} packages pinned in requirements.txt")


if __name__ == "__main__":
    main()
