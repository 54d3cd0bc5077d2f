import Crypto
import Foundation
import ServiceCore
import Yams

/// One API key as configured: only its SHA-256 is stored, never the key itself.
struct APIKey: Sendable, Equatable, Decodable {
    /// Owner name: jobs submitted with the key belong to it.
    var name: String
    /// Hex SHA-256 of the key (`printf %s "$KEY" | sha256sum`).
    var sha256: String
    /// Sees and manages every job, not only its own.
    var admin = false
    /// Most of its jobs queued or running at once (nil: only the server's queue limit).
    var maxActive: Int?
    /// Most submissions per minute (nil: unlimited).
    var jobsPerMinute: Int?
    /// Most job cost per minute (nil: unlimited), counted as `limits.max_job_cost` counts it:
    /// steps x latent cells plus the image's pixels, so large images use the allowance up sooner.
    var costPerMinute: Int?

    enum CodingKeys: String, CodingKey {
        case name, sha256, admin, maxActive = "max_active", jobsPerMinute = "jobs_per_minute", costPerMinute = "cost_per_minute"
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        sha256 = try c.decode(String.self, forKey: .sha256).lowercased()
        admin = try c.decodeIfPresent(Bool.self, forKey: .admin) ?? false
        maxActive = try c.decodeIfPresent(Int.self, forKey: .maxActive)
        jobsPerMinute = try c.decodeIfPresent(Int.self, forKey: .jobsPerMinute)
        costPerMinute = try c.decodeIfPresent(Int.self, forKey: .costPerMinute)
    }
}

/// Who is calling, as far as jobs are concerned: nil owner means keys are not in use.
struct Caller: Sendable, Equatable {
    var key: APIKey?

    /// The owner to record on new jobs and to filter by; nil for admins and when keys are off.
    var ownerFilter: String? { key.flatMap { $0.admin ? nil : $0.name } }

    func mayAccess(_ owner: String?) -> Bool { ownerFilter == nil || ownerFilter == owner }
}

/// The configured keys (`auth.keys_file`, a YAML list of `APIKey`), looked up by the SHA-256
/// of the bearer token a request presents.
struct APIKeys: Sendable {
    private let byHash: [String: APIKey]

    var isEmpty: Bool { byHash.isEmpty }

    init(_ keys: [APIKey]) throws {
        var byHash: [String: APIKey] = [:]
        for key in keys {
            guard key.sha256.count == 64, key.sha256.allSatisfy(\.isHexDigit) else {
                throw ConfigurationError("API key '\(key.name)': sha256 must be 64 hex digits")
            }
            for (setting, value) in [("max_active", key.maxActive), ("jobs_per_minute", key.jobsPerMinute), ("cost_per_minute", key.costPerMinute)] {
                if let value, value < 1 { throw ConfigurationError("API key '\(key.name)': \(setting) must be at least 1") }
            }
            guard byHash.updateValue(key, forKey: key.sha256) == nil else {
                throw ConfigurationError("API key '\(key.name)': the same key is listed twice")
            }
        }
        guard Set(keys.map(\.name)).count == keys.count else { throw ConfigurationError("API key names must be unique") }
        self.byHash = byHash
    }

    static func load(path: String) throws -> APIKeys {
        do {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            return try APIKeys(YAMLDecoder().decode([APIKey].self, from: text))
        } catch let error as ConfigurationError {
            throw ConfigurationError("auth.keys_file \(path): \(error.description)")
        } catch {
            throw ConfigurationError("auth.keys_file \(path): \(error)")
        }
    }

    /// The key whose hash matches `token`, if any.
    func key(for token: String) -> APIKey? {
        byHash[SHA256.hash(data: Data(token.utf8)).hex]
    }
}
