import Foundation
import JobStore
import Prometheus
import Synchronization

/// The service's Prometheus metrics. Counters and histograms are updated as things happen;
/// gauges that mirror stored state (queue depth, database size, process figures) are set at scrape.
package final class ServiceMetrics: Sendable {
    package let registry = PrometheusCollectorRegistry()

    package init() {}

    private static let latencyBuckets = seconds([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60])
    private static let jobBuckets = seconds([0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800])
    private static let stepBuckets = seconds([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10])

    private static func seconds(_ values: [Double]) -> [Duration] { values.map { .microseconds(Int64(($0 * 1e6).rounded())) } }

    private func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: metric, unitName: unit, helpText: help)
    }

    /// Methods labelled by name; any other token a client sends counts as `other`, so label
    /// values (and the exposition) stay bounded whatever arrives.
    package static let labelledMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"]

    /// One label set of the request metrics.
    private struct RequestLabels: Hashable {
        let method: String, route: String, status: Int
    }

    /// Each label set's counter and histogram, looked up in the registry once: the registry
    /// validates names and labels on every lookup, a sizeable share of a status poll's time.
    /// Bounded, as the labels are (known methods, route templates, statuses).
    private let requestSeries = Mutex([RequestLabels: (Counter, DurationHistogram)]())

    /// `route` is a route template or `unmatched`, never a raw path.
    package func request(method rawMethod: String, route: String, status: Int, duration: Duration) {
        let labels = RequestLabels(method: Self.labelledMethods.contains(rawMethod) ? rawMethod : "other", route: route, status: status)
        let (counter, histogram) = requestSeries.withLock { series in
            if let known = series[labels] { return known }
            let made = (
                registry.makeCounter(descriptor: name("segserve_http_requests", "total", "HTTP requests by method, route template and status"),
                                     labels: [("method", labels.method), ("route", route), ("status", String(status))]),
                registry.makeDurationHistogram(descriptor: name("segserve_http_request_duration", "seconds", "Time to answer an HTTP request"),
                                               labels: [("method", labels.method), ("route", route)], buckets: Self.latencyBuckets))
            series[labels] = made
            return made
        }
        counter.increment()
        histogram.record(duration)
    }

    /// A job change this node made: submissions and ends are counted.
    package func record(_ change: JobStore.Change) {
        switch change.kind {
        case .submitted: submitted(change.jobKind)
        case .ended: finished(change.jobKind, outcome: change.state)
        default: break
        }
    }

    private func submitted(_ kind: JobKind) {
        registry.makeCounter(descriptor: name("segserve_jobs_submitted", "total", "Jobs accepted, by kind"),
                             labels: [("kind", kind.rawValue)]).increment()
    }

    /// A job ended: outcome is succeeded, failed or canceled.
    private func finished(_ kind: JobKind, outcome: JobState) {
        registry.makeCounter(descriptor: name("segserve_jobs_finished", "total", "Jobs ended, by kind and outcome"),
                             labels: [("kind", kind.rawValue), ("outcome", outcome.rawValue)]).increment()
    }

    package func started(_ kind: JobKind, queueWait: Duration) {
        registry.makeDurationHistogram(descriptor: name("segserve_queue_wait", "seconds", "Time from submission to a worker starting the job"),
                                       labels: [("kind", kind.rawValue)], buckets: Self.jobBuckets).record(queueWait)
    }

    package func ran(_ kind: JobKind, duration: Duration) {
        registry.makeDurationHistogram(descriptor: name("segserve_job_run", "seconds", "Time a worker spent on a job"),
                                       labels: [("kind", kind.rawValue)], buckets: Self.jobBuckets).record(duration)
    }

    package func denoisingStep(_ duration: Duration) {
        registry.makeDurationHistogram(descriptor: name("segserve_ddim_step", "seconds", "Time of one DDIM step (UNet forward and update)"),
                                       labels: [], buckets: Self.stepBuckets).record(duration)
    }

    /// One UNet pass of the workers' shared batcher: its maps and the jobs they came from.
    package func unetPass(maps: Int, jobs: Int) {
        registry.makeValueHistogram(descriptor: name("segserve_unet_pass_maps", "", "Maps in one UNet pass of the workers' shared batcher"),
                                    buckets: [1, 2, 4, 8, 16, 32, 64]).record(Double(maps))
        registry.makeValueHistogram(descriptor: name("segserve_unet_pass_jobs", "", "Jobs whose steps shared one UNet pass of the workers' batcher"),
                                    buckets: [1, 2, 4, 8, 16, 32, 64]).record(Double(jobs))
    }

    package func rejected(reason: String) {
        registry.makeCounter(descriptor: name("segserve_jobs_rejected", "total", "Submissions refused, by reason"),
                             labels: [("reason", reason)]).increment()
    }

    /// The exposition text, with the scrape-time gauges refreshed first.
    package func render(counts: [JobState: Int], databaseBytes: Int, workers: Int, busyWorkers: Int) -> [UInt8] {
        for (state, n) in counts {
            registry.makeGauge(descriptor: name("segserve_jobs", "", "Stored jobs by state"), labels: [("state", state.rawValue)])
                .set(Double(n))
        }
        registry.makeGauge(descriptor: name("segserve_queue_depth", "", "Jobs waiting for a worker"), labels: [])
            .set(Double(counts[.queued] ?? 0))
        registry.makeGauge(descriptor: name("segserve_database_size", "bytes", "SQLite database and WAL size on disk"), labels: [])
            .set(Double(databaseBytes))
        registry.makeGauge(descriptor: name("segserve_workers", "", "Configured workers"), labels: []).set(Double(workers))
        registry.makeGauge(descriptor: name("segserve_workers_busy", "", "Workers running a job"), labels: []).set(Double(busyWorkers))
        var buffer = registry.emitToBuffer()
        buffer += ProcessMetrics.read().exposition.utf8
        return buffer
    }
}
