import Foundation

/// A test certificate authority and a server certificate for 127.0.0.1, ::1, localhost and
/// `names`, made with openssl.
package struct TestCA {
    package let directory: String
    package var caFile: String { directory + "/ca.pem" }
    package var certFile: String { directory + "/server.pem" }
    package var keyFile: String { directory + "/server.key" }

    package init(names: [String] = []) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("gc-ca-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let d = directory
        try Self.openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=governance-collector test CA", "-keyout", "\(d)/ca.key", "-out", "\(d)/ca.pem",
        ])
        try Self.openssl([
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", "\(d)/server.key", "-out", "\(d)/server.csr",
        ])
        try "subjectAltName=\((["IP:127.0.0.1", "IP:::1", "DNS:localhost"] + names.map { "DNS:\($0)" }).joined(separator: ","))\n".write(
            toFile: "\(d)/ext.cnf", atomically: true, encoding: .utf8)
        try Self.openssl([
            "x509", "-req", "-in", "\(d)/server.csr", "-CA", "\(d)/ca.pem", "-CAkey", "\(d)/ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "\(d)/ext.cnf", "-out", "\(d)/server.pem",
        ])
    }

    package func remove() { try? FileManager.default.removeItem(atPath: directory) }

    private static func openssl(_ arguments: [String]) throws {
        try ChildProcess.run(["openssl"] + arguments)
    }
}
