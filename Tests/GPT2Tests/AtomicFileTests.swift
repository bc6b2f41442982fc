/// AtomicFile never puts a file in the place of something that is not one: a symbolic link stays and the file it
/// names is replaced; a pipe, a folder or a dangling link is refused and left as it was. (`gpt2 export --out
/// /dev/full`, run as root, once renamed a 6 MB file over the device.)

import Foundation
import GPT2
import GPT2TestSupport
import Testing

@Suite struct AtomicFileTests {
    private func write(_ path: String, _ text: String) throws {
        try AtomicFile.write(path) { sink in try sink.write(Array(text.utf8)) }
    }

    /// The file type bits of what is at `path` itself (S_IFREG, S_IFLNK, …), or nil for nothing.
    private func kind(_ path: String) -> mode_t? {
        var status = stat()
        return lstat(path, &status) == 0 ? status.st_mode & S_IFMT : nil
    }

    @Test func aLinkIsKeptAndTheFileItNamesReplaced() throws {
        let directory = try TestPaths.temporaryDirectory("atomic-link").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try write(directory + "/target", "old")
        try FileManager.default.createSymbolicLink(atPath: directory + "/link", withDestinationPath: "target")
        try write(directory + "/link", "new")
        #expect(kind(directory + "/link") == S_IFLNK)
        #expect(try String(contentsOfFile: directory + "/target", encoding: .utf8) == "new")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == ["link", "target"], "no temporary left")
    }

    /// A write that fails part-way (a full disk, an error while the bytes are made) throws and leaves the earlier file
    /// whole under its name, and no temporary beside it: the point of writing under another name first.
    @Test func aFailedWriteLeavesTheEarlierFileAndNoTemporary() throws {
        let directory = try TestPaths.temporaryDirectory("atomic-failed").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try write(directory + "/file", "old")
        struct Interrupted: Error {}
        #expect(throws: Interrupted.self) {
            try AtomicFile.write(directory + "/file") { sink in
                try sink.write(Array("partly new".utf8))
                throw Interrupted()
            }
        }
        #expect(try String(contentsOfFile: directory + "/file", encoding: .utf8) == "old")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["file"], "no temporary left")
    }

    /// Files written together land together: when the second fails (or the process is interrupted) while they are
    /// written, the first is left as it was too (an export's new model.safetensors beside the last export's config.json
    /// loaded nowhere), and no temporary is left.
    @Test func filesWrittenTogetherAreAllReplacedOrNone() throws {
        let directory = try TestPaths.temporaryDirectory("atomic-together").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (first, second) = (directory + "/model", directory + "/config")
        try write(first, "old model")
        try write(second, "old config")
        struct Interrupted: Error {}
        #expect(throws: Interrupted.self) {
            try AtomicFile.writeTogether([(first, { sink in try sink.write(Array("new model".utf8)) }),
                                          (second, { _ in throw Interrupted() })])
        }
        #expect(try String(contentsOfFile: first, encoding: .utf8) == "old model")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == ["config", "model"], "no temporary left")
        try AtomicFile.writeTogether([(first, { sink in try sink.write(Array("new model".utf8)) }),
                                      (second, { sink in try sink.write(Array("new config".utf8)) })])
        #expect(try String(contentsOfFile: first, encoding: .utf8) == "new model")
        #expect(try String(contentsOfFile: second, encoding: .utf8) == "new config")
    }

    /// A name up to the 255 bytes Linux allows is written, though `NAME.tmp-PID` would be longer: the temporary takes
    /// the name's start and a hash of it (so names that start alike do not share one), in bytes, not characters.
    @Test(arguments: [String(repeating: "a", count: 250), String(repeating: "é", count: 127), String(repeating: "b", count: 255)])
    func aNameNearTheLengthLimitIsWritten(name: String) throws {
        let directory = try TestPaths.temporaryDirectory("atomic-long-name").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try write(directory + "/" + name, "text")
        #expect(try String(contentsOfFile: directory + "/" + name, encoding: .utf8) == "text")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == [name], "no temporary left")

        let temporary = FileSystem.temporaryPath(for: directory + "/" + name)
        #expect(FileSystem.directoryName(temporary) == directory)
        #expect(FileSystem.baseName(temporary).utf8.count <= 255, "\(temporary)")
        let alike = String(name.dropLast()) + "c"   // (the same start)
        #expect(FileSystem.temporaryPath(for: directory + "/" + alike) != temporary)
    }

    @Test func whatIsNotAFileIsRefusedAndLeftAsItWas() throws {
        let directory = try TestPaths.temporaryDirectory("atomic-refused").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let pipe = directory + "/pipe", folder = directory + "/folder", dangling = directory + "/dangling"
        #expect(mkfifo(pipe, 0o644) == 0)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
        try FileManager.default.createSymbolicLink(atPath: dangling, withDestinationPath: "missing")
        for (path, phrase) in [(pipe, "not a regular file"), (folder, "a folder"), (dangling, "symbolic link to nothing")] {
            let error = #expect(throws: FileError.self) { try write(path, "x") }
            #expect(error?.description.contains(phrase) == true, "\(String(describing: error))")
        }
        #expect(kind(pipe) == S_IFIFO && kind(folder) == S_IFDIR && kind(dangling) == S_IFLNK)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == ["dangling", "folder", "pipe"])
    }
}
