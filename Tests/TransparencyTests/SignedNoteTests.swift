import Foundation
import Testing
@testable import Transparency

/// Signed notes against golang.org/x/mod/sumdb/note's published example (Ed25519 is
/// deterministic, so our signature must equal Go's byte for byte).
@Suite struct SignedNoteTests {
    static let signerKey = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
    static let verifierKey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    static let text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
    static let note = text + "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"

    @Test func matchesGosNotePackage() throws {
        let signer = try NoteSigner(encoded: Self.signerKey)
        #expect(signer.verifier.encoded == Self.verifierKey)
        #expect(signer.encoded == Self.signerKey)
        #expect(try signer.sign(Self.text) == Self.note)
        let opened = try SignedNote.open(Self.note, verifiers: [NoteVerifier(encoded: Self.verifierKey)])
        #expect(opened.text == Self.text)
    }

    @Test func refusesChangedNotesAndUnknownKeys() throws {
        let trusted = try NoteVerifier(encoded: Self.verifierKey)
        let changed = Self.note.replacingOccurrences(of: "answer", with: "ANSWER")
        #expect(throws: SignedNote.OpenError.badSignature(key: Self.verifierKey)) { try SignedNote.open(changed, verifiers: [trusted]) }
        let other = try NoteSigner.generate(name: "PeterNeumann")
        #expect(throws: SignedNote.OpenError.noKnownSignature(names: ["PeterNeumann"])) {
            try SignedNote.open(Self.note, verifiers: [other.verifier])
        }
        #expect(throws: (any Error).self) { try NoteVerifier(encoded: Self.verifierKey.replacingOccurrences(of: "c74f20a3", with: "c74f20a4")) }
    }

    @Test func checkpointTextRoundTrips() throws {
        let signer = try NoteSigner.generate(name: "example.com/audit")
        let checkpoint = Checkpoint(origin: "example.com/audit", size: 42, rootHash: Array(repeating: 7, count: 32))
        let note = try signer.sign(checkpoint.text)
        let opened = try Checkpoint.open(note, verifiers: [signer.verifier])
        #expect(opened.checkpoint == checkpoint)
        #expect(checkpoint.text == "example.com/audit\n42\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n")
    }
}
