/// FileLock: exclusive holds, the probe others use, and holds of a moment that do not count as held.

import Foundation
import GPT2TestSupport
import Testing
@testable import GPT2

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite struct FileLockTests {
    private func withLockPath(_ body: (String) throws -> Void) throws {
        let directory = try TestPaths.temporaryDirectory("file-lock")
        defer { try? FileManager.default.removeItem(at: directory) }
        try body(directory.path + "/.lock")
    }

    /// Holds `path` with `operation` (LOCK_SH or LOCK_EX) on a descriptor of its own for `seconds`, from another thread.
    private func hold(_ path: String, _ operation: Int32, for seconds: Double) throws -> Thread {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        try #require(descriptor >= 0 && flock(descriptor, operation | LOCK_NB) == 0)
        let thread = Thread { Thread.sleep(forTimeInterval: seconds); close(descriptor) }
        thread.start()
        return thread
    }

    @Test func aHeldLockIsBusyAndSeenHeldUntilLetGo() throws {
        try withLockPath { path in
            #expect(!FileLock.isHeldByAnother(path), "no file: not held")
            var first: FileLock? = try FileLock(path, wait: false)
            #expect(throws: FileLock.Busy.self) { _ = try FileLock(path, wait: false) }
            #expect(FileLock.isHeldByAnother(path))
            withExtendedLifetime(first) {}
            first = nil
            _ = try FileLock(path, wait: false)
        }
    }

    /// A folder is held shared by any number of readers at once, which keeps an exclusive holder (a writer) out, and
    /// exclusively by one writer, which keeps readers and other writers out and is what `isHeldByAnother` sees. Nothing
    /// is created in the folder.
    @Test func aFolderIsHeldSharedByReadersOrExclusivelyByOneWriter() throws {
        try withLockPath { path in
            let folder = FileSystem.directoryName(path)
            var readers: [FileLock] = [try FileLock(folder: folder, shared: true), try FileLock(folder: folder, shared: true)]
            #expect(throws: FileLock.Busy.self) { _ = try FileLock(folder: folder, shared: false) }
            #expect(!FileLock.isHeldByAnother(folder), "shared holds are not exclusive ones")
            readers.removeAll()
            var writer: FileLock? = try FileLock(folder: folder, shared: false)
            #expect(throws: FileLock.Busy.self) { _ = try FileLock(folder: folder, shared: true) }
            #expect(throws: FileLock.Busy.self) { _ = try FileLock(folder: folder, shared: false) }
            #expect(FileLock.isHeldByAnother(folder))
            withExtendedLifetime(writer) {}
            writer = nil
            _ = try FileLock(folder: folder, shared: true)
            #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty)
            #expect(throws: FileError.self) { _ = try FileLock(folder: folder + "/missing", shared: true) }
        }
    }

    /// Another process's probe holds a shared lock for a moment; a lock taken then is not refused as busy. A prepare
    /// that finds its work done holds the exclusive lock for a moment; a probe then does not call the folder held.
    @Test func aHoldOfAMomentIsWaitedOut() throws {
        try withLockPath { path in
            _ = try hold(path, LOCK_SH, for: 0.05)
            _ = try FileLock(path, wait: false)
        }
        try withLockPath { path in
            _ = try hold(path, LOCK_EX, for: 0.05)
            #expect(!FileLock.isHeldByAnother(path))
        }
        try withLockPath { path in   // (held until the probes are done, however long they take on a loaded machine)
            let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            try #require(descriptor >= 0 && flock(descriptor, LOCK_EX | LOCK_NB) == 0)
            defer { close(descriptor) }
            #expect(FileLock.isHeldByAnother(path), "a hold longer than the grace is a hold")
            #expect(throws: FileLock.Busy.self) { _ = try FileLock(path, wait: false) }
        }
    }

    @Test func aMovedLockFileIsNoLongerInPlace() throws {
        try withLockPath { path in
            let lock = try FileLock(path, wait: false)
            #expect(lock.isInPlace)
            try FileManager.default.moveItem(atPath: path, toPath: path + ".moved")
            #expect(!lock.isInPlace)
            // a new file made at the path (as a run folder made anew there would hold) is not the one locked
            #expect(FileManager.default.createFile(atPath: path, contents: nil))
            #expect(!lock.isInPlace)
        }
    }
}
