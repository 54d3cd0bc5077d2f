import GRDB

/// The schema, one migration per version; a database is brought up to date when it is opened.
enum JobStoreMigrations {
    static var migrator: DatabaseMigrator {
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
        return migrator
    }
}
