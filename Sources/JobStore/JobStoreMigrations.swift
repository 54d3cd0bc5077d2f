import Foundation
import GRDB

/// The schema, one migration per version and backend under the same names; a database is
/// brought up to date when it is opened.
enum JobStoreMigrations {
    static var sqlite: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: jobs, inputs, results") { db in
            try db.execute(sql: """
                CREATE TABLE job (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    id TEXT NOT NULL UNIQUE,
                    kind TEXT NOT NULL,
                    state TEXT NOT NULL,
                    options BLOB NOT NULL,
                    step INTEGER NOT NULL DEFAULT 0,
                    steps INTEGER NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    cancel_requested INTEGER NOT NULL DEFAULT 0,
                    idempotency_key TEXT UNIQUE,
                    request_hash TEXT,
                    created_at REAL NOT NULL,
                    started_at REAL,
                    finished_at REAL,
                    failure_code TEXT,
                    failure_message TEXT
                );
                CREATE INDEX job_by_state ON job(state, seq);
                CREATE INDEX job_by_finish ON job(finished_at) WHERE finished_at IS NOT NULL;
                CREATE TABLE job_input (
                    job_seq INTEGER PRIMARY KEY REFERENCES job(seq) ON DELETE CASCADE,
                    image BLOB NOT NULL,
                    mask BLOB,
                    known BLOB,
                    semantic BLOB
                );
                CREATE TABLE job_result (
                    job_seq INTEGER PRIMARY KEY REFERENCES job(seq) ON DELETE CASCADE,
                    panoptic_png BLOB NOT NULL,
                    segments_json BLOB NOT NULL,
                    overlay_png BLOB NOT NULL
                );
                """)
        }
        migrator.registerMigration("v2: job owners") { db in
            // The API key that submitted a job (NULL: no keys configured); listings filter by it.
            try db.execute(sql: """
                ALTER TABLE job ADD COLUMN owner TEXT;
                CREATE INDEX job_by_owner ON job(owner, seq);
                """)
        }
        migrator.registerMigration("v3: callbacks") { db in
            // A job's callback (one per job, delivered once it ends) and every attempt to deliver it.
            try db.execute(sql: """
                CREATE TABLE callback (
                    job_seq INTEGER PRIMARY KEY REFERENCES job(seq) ON DELETE CASCADE,
                    url TEXT NOT NULL,
                    state TEXT NOT NULL DEFAULT 'pending',
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at REAL NOT NULL DEFAULT 0
                );
                CREATE INDEX callback_pending ON callback(next_attempt_at) WHERE state = 'pending';
                CREATE TABLE callback_attempt (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    job_seq INTEGER NOT NULL REFERENCES job(seq) ON DELETE CASCADE,
                    attempt INTEGER NOT NULL,
                    attempted_at REAL NOT NULL,
                    status INTEGER,
                    error TEXT
                );
                CREATE INDEX callback_attempt_by_job ON callback_attempt(job_seq, attempt);
                """)
        }
        migrator.registerMigration(leases) { db in
            try db.execute(sql: leasesSQL)
        }
        migrator.registerMigration(imagesAndFairQueue) { db in
            try db.execute(sql: imagesAndFairQueueSQL(blob: "BLOB"))
        }
        return migrator
    }

    static let leases = "v4: leases"
    /// A running job's claim: its token (fencing), when it lapses unless renewed, and the node.
    static let leasesSQL = """
        ALTER TABLE job ADD COLUMN lease_token TEXT;
        ALTER TABLE job ADD COLUMN lease_expires_at REAL;
        ALTER TABLE job ADD COLUMN node TEXT;
        """

    static let imagesAndFairQueue = "v5: image sizes, fair queue, uncertainty maps"
    /// The submitted image's size as shown and the EXIF orientation applied (`JobImage`),
    /// each job's span in the fair queue's virtual time (`JobStore.fairStart`; jobs from before
    /// share start 0, so they keep submission order and go first), and the uncertainty map.
    static func imagesAndFairQueueSQL(blob: String) -> String { """
        ALTER TABLE job ADD COLUMN image_width INTEGER;
        ALTER TABLE job ADD COLUMN image_height INTEGER;
        ALTER TABLE job ADD COLUMN image_orientation INTEGER;
        ALTER TABLE job ADD COLUMN fair_start DOUBLE PRECISION NOT NULL DEFAULT 0;
        ALTER TABLE job ADD COLUMN fair_finish DOUBLE PRECISION NOT NULL DEFAULT 0;
        CREATE INDEX job_fair_queue ON job(state, fair_start, seq);
        ALTER TABLE job_result ADD COLUMN uncertainty_png \(blob);
        """ }

    /// PostgreSQL: the same versions, in its types; applied under an advisory lock, so nodes
    /// starting together migrate once.
    static let postgresVersions: [(String, String)] = [
        ("v1: jobs, inputs, results", """
            CREATE TABLE job (
                seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                kind TEXT NOT NULL,
                state TEXT NOT NULL,
                options BYTEA NOT NULL,
                step BIGINT NOT NULL DEFAULT 0,
                steps BIGINT NOT NULL,
                attempts BIGINT NOT NULL DEFAULT 0,
                cancel_requested BIGINT NOT NULL DEFAULT 0,
                idempotency_key TEXT UNIQUE,
                request_hash TEXT,
                created_at DOUBLE PRECISION NOT NULL,
                started_at DOUBLE PRECISION,
                finished_at DOUBLE PRECISION,
                failure_code TEXT,
                failure_message TEXT
            );
            CREATE INDEX job_by_state ON job(state, seq);
            CREATE INDEX job_by_finish ON job(finished_at) WHERE finished_at IS NOT NULL;
            CREATE TABLE job_input (
                job_seq BIGINT PRIMARY KEY REFERENCES job(seq) ON DELETE CASCADE,
                image BYTEA NOT NULL,
                mask BYTEA,
                known BYTEA,
                semantic BYTEA
            );
            CREATE TABLE job_result (
                job_seq BIGINT PRIMARY KEY REFERENCES job(seq) ON DELETE CASCADE,
                panoptic_png BYTEA NOT NULL,
                segments_json BYTEA NOT NULL,
                overlay_png BYTEA NOT NULL
            );
            """),
        ("v2: job owners", """
            ALTER TABLE job ADD COLUMN owner TEXT;
            CREATE INDEX job_by_owner ON job(owner, seq);
            """),
        ("v3: callbacks", """
            CREATE TABLE callback (
                job_seq BIGINT PRIMARY KEY REFERENCES job(seq) ON DELETE CASCADE,
                url TEXT NOT NULL,
                state TEXT NOT NULL DEFAULT 'pending',
                attempts BIGINT NOT NULL DEFAULT 0,
                next_attempt_at DOUBLE PRECISION NOT NULL DEFAULT 0
            );
            CREATE INDEX callback_pending ON callback(next_attempt_at) WHERE state = 'pending';
            CREATE TABLE callback_attempt (
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                job_seq BIGINT NOT NULL REFERENCES job(seq) ON DELETE CASCADE,
                attempt BIGINT NOT NULL,
                attempted_at DOUBLE PRECISION NOT NULL,
                status BIGINT,
                error TEXT
            );
            CREATE INDEX callback_attempt_by_job ON callback_attempt(job_seq, attempt);
            """),
        (leases, """
            ALTER TABLE job ADD COLUMN lease_token TEXT;
            ALTER TABLE job ADD COLUMN lease_expires_at DOUBLE PRECISION;
            ALTER TABLE job ADD COLUMN node TEXT;
            CREATE INDEX job_running_leases ON job(lease_expires_at) WHERE state = 'running';
            """),
        (imagesAndFairQueue, imagesAndFairQueueSQL(blob: "BYTEA")),
    ]

    static let postgres = PostgresMigrator()

    struct PostgresMigrator {
        func migrate(_ database: PostgresDatabase) throws {
            try database.write { db in
                // Any fixed key: every segserve node takes the same lock.
                try db.execute("SELECT pg_advisory_xact_lock(7235001)")
                try db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)")
                let applied = Set(try db.fetch("SELECT version FROM schema_migrations").compactMap { $0.text("version") })
                for (version, sql) in JobStoreMigrations.postgresVersions where !applied.contains(version) {
                    for statement in sql.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespacesAndNewlines) })
                    where !statement.isEmpty {
                        try db.execute(statement)
                    }
                    try db.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", version, Date())
                }
            }
        }
    }
}
