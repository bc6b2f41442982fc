/// `gpt2 prepare` end to end through the built binary, offline via the shared mirror: llm.c's tinyshakespeare
/// split, JSONL tokenised exactly as the tokenizer does, re-runs, and bad input failing cleanly.

import Testing
import Foundation
import GPT2TestSupport
import GPT2

@Suite struct PrepareCommandTests {
    private let mirror = TestPaths.mirror.path

    private func shardTokens(_ path: String) throws -> [Int] {
        try ShardReader(path: path).withTokens { $0.map(Int.init) }
    }

    @Test func tinyShakespeareMatchesLLMCSplit() throws {
        let out = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: out) }
        let result = try runGPT2(arguments: ["prepare", "--mirror", mirror, "--out", out.path])
        #expect(result.status == 0, "\(result.stderrText)")
        // llm.c's dev/data/tinyshakespeare.py writes 32,768 val and 305,260 train tokens.
        let val = try shardTokens(out.appendingPathComponent("tinyshakespeare_val_000000.bin").path)
        let train = try shardTokens(out.appendingPathComponent("tinyshakespeare_train_000000.bin").path)
        #expect(val.count == 32_768)
        #expect(train.count == 305_260)
        #expect(val.prefix(4) == [50256, 5962, 22307, 25])  // <|endoftext|> "First Citizen:"

        let rerun = try runGPT2(arguments: ["prepare", "--mirror", mirror, "--out", out.path])
        #expect(rerun.status == 0)
        #expect(rerun.stderrText.contains("2 already complete"))
    }

    /// A cached download that gpt2 may not read is reported, and kept: it is not known to be damaged, and offline it may
    /// be the only copy. Root reads every file, so as root the command runs as user nobody (setpriv), for whom the
    /// root-owned copy of mode 000 is unreadable; as another user it runs as that user. (DownloaderTests checks the same
    /// in-process, where it can: not as root.)
    @Test(.enabled(if: getuid() != 0 || FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"),
                   "as root this needs setpriv, to run gpt2 as a user that cannot read a file of mode 000"))
    func anUnreadableCachedDownloadIsReportedAndKept() throws {
        let root = try TestPaths.temporaryDirectory("prepare-unreadable-cache").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (cache, out) = (root + "/cache", root + "/out")
        try FileManager.default.createDirectory(atPath: cache + "/gpt2", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        for folder in [root, cache, cache + "/gpt2"] { chmod(folder, 0o755) }
        chmod(out, 0o777)
        for file in [DataFile.gpt2Encoder, .gpt2Vocabulary, .tinyShakespeare] {
            try FileManager.default.copyItem(atPath: mirror + "/" + file.relativePath, toPath: cache + "/" + file.relativePath)
            chmod(cache + "/" + file.relativePath, 0o644)
        }
        let copy = cache + "/" + DataFile.tinyShakespeare.relativePath
        chmod(copy, 0)
        // no mirror: the tokenizer's files come from the cache, then the corpus's unreadable copy is found there
        let arguments = ["prepare", "tinyshakespeare", "--out", out]
        let environment = ["GPT2_CACHE_DIR": cache, "GPT2_DATA_MIRROR": "", "HOME": root, "PATH": "/usr/bin:/bin"]
        let result = try runGPT2AsAUserOtherThanRoot(arguments, environment: environment)
        expectOneLineError(result, mentioning: "cannot read \(copy): Permission denied")
        chmod(copy, 0o644)
        #expect(FileManager.default.contentsEqual(atPath: copy, andPath: mirror + "/" + DataFile.tinyShakespeare.relativePath),
                "the cached copy is kept as it was")
    }

    /// gpt2 run as this user, or as root as user nobody (setpriv), for whom root's files of restricted modes are closed.
    private func runGPT2AsAUserOtherThanRoot(_ arguments: [String], environment: [String: String]) throws -> CommandResult {
        guard getuid() == 0 else { return try runGPT2(arguments: arguments, environment: environment) }
        return try runCommand("/usr/bin/setpriv", arguments: ["--reuid=65534", "--regid=65534", "--clear-groups",
                                                              buildProductsDirectory.appendingPathComponent("gpt2").path] + arguments,
                              environment: environment)
    }

    /// A download cache the user cannot write is named, with GPT2_CACHE_DIR as the way on; curl's own failure to write
    /// there read "check the network". As root the command runs as user nobody (setpriv), as above; PATH has no curl,
    /// which nothing should start.
    @Test(.enabled(if: getuid() != 0 || FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"),
                   "as root this needs setpriv, to run gpt2 as a user that cannot write a root-owned folder"))
    func anUnwritableCacheIsNamedNotTheNetwork() throws {
        let root = try TestPaths.temporaryDirectory("prepare-unwritable-cache").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let cache = root + "/cache"
        // the tokenizer's files are cached; tinyshakespeare.txt is to be downloaded into the cache folder itself
        try FileManager.default.createDirectory(atPath: cache + "/gpt2", withIntermediateDirectories: true)
        for file in [DataFile.gpt2Encoder, .gpt2Vocabulary] {
            try FileManager.default.copyItem(atPath: mirror + "/" + file.relativePath, toPath: cache + "/" + file.relativePath)
            chmod(cache + "/" + file.relativePath, 0o644)
        }
        for folder in [root, cache + "/gpt2", cache] { chmod(folder, getuid() == 0 ? 0o755 : 0o555) }
        defer { chmod(cache, 0o755) }
        let arguments = ["prepare", "tinyshakespeare", "--out", root + "/out"]
        let environment = ["GPT2_CACHE_DIR": cache, "GPT2_DATA_MIRROR": "", "HOME": root, "PATH": "/nonexistent"]
        let result = try runGPT2AsAUserOtherThanRoot(arguments, environment: environment)
        expectOneLineError(result, mentioning: "cannot write the download cache \(cache): Permission denied; set GPT2_CACHE_DIR")
    }

    /// While a prepare writes a folder (holding the folder itself; here the test does), a second prepare into it is
    /// refused (two of one name left a mixture of both corpora), and so are train and eval reading it (they trained on a
    /// part); while a run reads it (holding it shared; here the test does), a prepare is refused (it replaced the shards
    /// under a running train). Once it is let go, the prepare runs, and leaves no lock file behind (an interrupted one
    /// left its `.prepare.lock`).
    @Test func aFolderBeingPreparedIsRefusedToOtherPreparesAndReaders() throws {
        let root = try TestPaths.temporaryDirectory("prepare-lock").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let out = root + "/data"
        try #require(try runGPT2(arguments: ["prepare", "--mirror", mirror, "--out", out]).status == 0)
        let before = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
        let descriptor = open(out, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        try #require(descriptor >= 0 && flock(descriptor, LOCK_EX) == 0)
        expectOneLineError(try runGPT2(arguments: ["prepare", "--mirror", mirror, "--out", out]),
                           mentioning: "another gpt2 prepare is writing into \(out); let it finish, or prepare into another --out")
        let reading = "a gpt2 prepare is writing \(out) now, so its shards are not all there yet; let it finish first"
        var train = try CLIFixtures.trainArguments(out: root + "/run")
        train[train.firstIndex(of: "--data")! + 1] = out
        expectOneLineError(try runGPT2(arguments: train), mentioning: reading)
        expectOneLineError(try runGPT2(arguments: ["eval", "--checkpoint", try CLIFixtures.trainedRun(), "--data", out, "--device", "cpu"]),
                           mentioning: reading)
        try #require(flock(descriptor, LOCK_SH) == 0)   // now as a run reading it
        expectOneLineError(try runGPT2(arguments: ["prepare", "--mirror", mirror, "--out", out]),
                           mentioning: "a gpt2 train or eval is reading the shards in \(out), which a prepare would change under it")
        close(descriptor)
        let free = try runGPT2(arguments: ["prepare", "--mirror", mirror, "--out", out])
        #expect(free.status == 0, "\(free.stderrText)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).sorted() == before)
    }

    /// A prepare of tinyshakespeare twelve times over into `root/data`, replacing an earlier one of it once under the
    /// same name, started and let run until it has written the temporary of train shard `index`, where a test stops it.
    private struct ReplacingPrepare {
        let out: String, arguments: [String], process: Process
        /// The earlier preparation's files, and their bytes.
        let earlier: [String], earlierBytes: [Data?]

        /// `ignoring`: signals the prepare starts with ignored (`trap '' HUP`, as `nohup` does).
        /// `index` nil: until it moves the shards into place (its mark is there).
        init(in root: String, untilShard index: Int?, stderr: Any, ignoring: String? = nil) throws {
            let (corpus, out) = (root + "/corpus.txt", root + "/data")
            self.out = out
            let text = try String(contentsOfFile: TestPaths.mirror.path + "/" + DataFile.tinyShakespeare.relativePath, encoding: .utf8)
            try text.write(toFile: corpus, atomically: false, encoding: .utf8)
            arguments = ["prepare", corpus, "--out", out, "--shard-tokens", "65536", "--threads", "1", "--mirror", TestPaths.mirror.path]
            #expect(try runGPT2(arguments: arguments).status == 0)
            earlier = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
            earlierBytes = earlier.map { FileManager.default.contents(atPath: out + "/" + $0) }

            try String(repeating: text + "\n\n", count: 12).write(toFile: corpus, atomically: false, encoding: .utf8)
            let mark = UnfinishedPrepareMark.path(directory: out, name: "corpus")
            process = try PrepareCommandTests.startedPrepare(arguments, until: index.map { PrepareCommandTests.temporary(ofShard: $0, in: out) } ?? { _ in mark },
                                                             stderr: stderr, ignoring: ignoring)
        }

        /// Whether the folder holds the earlier preparation's files, as they were, and `others` besides.
        func holdsTheEarlierShards(besides others: (String) -> Bool = { _ in false }) throws -> Bool {
            let files = try FileManager.default.contentsOfDirectory(atPath: out).filter { !others($0) }.sorted()
            return files == earlier && earlier.map { FileManager.default.contents(atPath: out + "/" + $0) } == earlierBytes
        }
    }

    /// A new file at `path` to give a process as its standard error, and what it holds once read. (Not a pipe, which a
    /// child another test starts meanwhile may inherit, and hold open until it ends.)
    private static func logFile(_ path: String) throws -> (FileHandle, () -> String) {
        FileManager.default.createFile(atPath: path, contents: nil)
        return (try FileHandle(forWritingTo: URL(fileURLWithPath: path)), { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" })
    }

    /// The path of the temporary of train shard `index` of `corpus` in `out` that the process with the given id writes.
    private static func temporary(ofShard index: Int, in out: String) -> (Int32) -> String {
        { out + "/" + ShardFileName.make(name: "corpus", split: "train", index: index) + ".tmp-\($0)" }
    }

    /// The running `gpt2 arguments` once the file `until` names for its process id exists, or it ended. `ignoring`:
    /// signals it starts with ignored (`trap '' HUP`, as `nohup` does).
    private static func startedPrepare(_ arguments: [String], until file: (Int32) -> String, stderr: Any = FileHandle.nullDevice,
                                       ignoring: String? = nil) throws -> Process {
        let process = Process()
        let gpt2 = buildProductsDirectory.appendingPathComponent("gpt2")
        if let ignoring {   // (exec: the process signalled is gpt2 itself)
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "trap '' \(ignoring); exec \"$0\" \"$@\"", gpt2.path] + arguments
        } else {
            process.executableURL = gpt2
            process.arguments = arguments
        }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = stderr
        try process.run()
        let path = file(process.processIdentifier)
        let deadline = Date().addingTimeInterval(300)
        while process.isRunning && !FileManager.default.fileExists(atPath: path) && Date() < deadline { usleep(1_000) }
        return process
    }

    /// A prepare killed part-way leaves the folder's shards as they were: here an earlier preparation of another text
    /// under the same name, which train reads (it trained on part of the new corpus, or after a fix, refused the
    /// folder until the prepare ran again). The next prepare deletes what the killed one wrote. Train refuses a corpus
    /// whose prepare was killed while moving its shards into place, naming the command to run again.
    @Test func aKilledPrepareLeavesTheEarlierShardsAsTheyWere() throws {
        let root = try TestPaths.temporaryDirectory("prepare-killed").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let replacing = try ReplacingPrepare(in: root, untilShard: 5, stderr: FileHandle.nullDevice)
        kill(replacing.process.processIdentifier, SIGKILL)
        replacing.process.waitUntilExit()
        try #require(replacing.process.terminationReason == .uncaughtSignal, "the prepare ended before it could be killed part-way")
        #expect(try replacing.holdsTheEarlierShards(besides: { $0.contains(".tmp-") }), "no shard moved, no mark")

        var train = try CLIFixtures.trainArguments(out: root + "/run")
        train[train.firstIndex(of: "--data")! + 1] = replacing.out
        let trained = try runGPT2(arguments: train)
        #expect(trained.status == 0 && trained.stderrText.contains("train: "), "\(trained.stderrText)")
        let again = try runGPT2(arguments: replacing.arguments)
        #expect(again.status == 0 && again.stderrText.contains("a shard an interrupted prepare left under a temporary name"), "\(again.stderrText)")
        let prepared = try FileManager.default.contentsOfDirectory(atPath: replacing.out)
        #expect(!prepared.contains { $0.contains(".tmp-") } && prepared.count > replacing.earlier.count + 40, "\(prepared.sorted())")

        let mark = replacing.out + "/corpus.prepare-unfinished"
        try "command: gpt2 prepare corpus.txt --out data\n".write(toFile: mark, atomically: false, encoding: .utf8)
        train[train.firstIndex(of: "--out")! + 1] = root + "/refused"
        let refused = try runGPT2(arguments: train)
        expectOneLineError(refused, mentioning: "the gpt2 prepare that wrote these shards did not finish (\(mark) says so)")
        #expect(refused.stderrText.contains("gpt2 prepare corpus.txt --out data"), "\(refused.stderrText)")
    }

    /// Ctrl-C stops a prepare at once: it deletes the shards it wrote (they stayed under temporary names until the next
    /// prepare of the name) and says so, with the exit status of a process the signal ended (130); the earlier shards
    /// stay as they were.
    @Test func anInterruptedPrepareDeletesWhatItWrote() throws {
        let root = try TestPaths.temporaryDirectory("prepare-interrupted").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (errors, log) = try Self.logFile(root + "/stderr")
        let replacing = try ReplacingPrepare(in: root, untilShard: 1, stderr: errors)
        kill(replacing.process.processIdentifier, SIGINT)
        replacing.process.waitUntilExit()
        try #require(replacing.process.terminationStatus != 0, "the prepare ended before it could be interrupted: \(log())")
        #expect(replacing.process.terminationStatus == 130)
        #expect(log().contains("interrupted: deleting the shards this prepare wrote; those of corpus in \(replacing.out) stay as they were"),
                "\(log())")
        #expect(try replacing.holdsTheEarlierShards(), "no temporary left")
    }

    /// Ctrl-C while the new shards are moved into place lets the move finish, then stops, as a signal's exit status says
    /// (it exited 0, and `gpt2 prepare … && gpt2 train …` went on to train, as did train after its own demo prepare).
    /// The move is caught by its mark; a prepare that ends before the signal lands is tried again.
    @Test func aCtrlCWhileTheShardsAreMovedFinishesTheMoveThenStops() throws {
        let root = try TestPaths.temporaryDirectory("prepare-interrupted-moving").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        for _ in 0..<5 {
            let (errors, log) = try Self.logFile(root + "/stderr")
            let replacing = try ReplacingPrepare(in: root, untilShard: nil, stderr: errors)
            kill(replacing.process.processIdentifier, SIGINT)
            replacing.process.waitUntilExit()
            if replacing.process.terminationStatus == 0 && !log().contains("interrupted") { continue }   // (done before the signal)
            #expect(replacing.process.terminationReason == .exit && replacing.process.terminationStatus == 130, "\(log())")
            #expect(log().contains("interrupted while moving the new shards of corpus into place: finishing that, then stopping"),
                    "\(log())")
            #expect(log().contains("stopped as asked, once the new shards of corpus in \(replacing.out) were in place"), "\(log())")
            let prepared = try FileManager.default.contentsOfDirectory(atPath: replacing.out)
            #expect(prepared.allSatisfy { $0.hasSuffix(".bin") } && prepared.count > replacing.earlier.count + 40, "\(prepared.sorted())")
            return
        }
        Issue.record("each of 5 prepares moved its shards into place before a signal could land")
    }

    /// Ctrl-C takes the folders the prepare made for its shards with them: no empty folder is left behind (the clean-up
    /// of an error's, which did that, never ran). `--out` ends in a slash, as tab completion types it (which left the
    /// folders above the last, on errors too).
    @Test func anInterruptedPrepareRemovesTheFoldersItMade() throws {
        let root = try TestPaths.temporaryDirectory("prepare-interrupted-new").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let text = try String(contentsOfFile: TestPaths.mirror.path + "/" + DataFile.tinyShakespeare.relativePath, encoding: .utf8)
        try String(repeating: text + "\n\n", count: 12).write(toFile: root + "/corpus.txt", atomically: false, encoding: .utf8)
        let out = root + "/new/data/"
        let process = try Self.startedPrepare(["prepare", root + "/corpus.txt", "--out", out, "--shard-tokens", "65536", "--threads", "1",
                                               "--mirror", mirror], until: Self.temporary(ofShard: 1, in: out))
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        try #require(process.terminationReason == .exit && process.terminationStatus == 130, "the prepare ended before it could be interrupted")
        #expect(try FileManager.default.contentsOfDirectory(atPath: root) == ["corpus.txt"])

        let failed = try runGPT2(arguments: ["prepare", "-", "--format", "jsonl", "--name", "x", "--val-tokens", "10", "--out", out,
                                             "--mirror", mirror], stdin: Data(#"{"x": 1}"#.utf8))
        expectOneLineError(failed, mentioning: "<stdin>:1: no string field \"text\"")
        #expect(try FileManager.default.contentsOfDirectory(atPath: root) == ["corpus.txt"])
    }

    /// A signal ignored when the prepare starts stays ignored: `nohup`'s SIGHUP (the terminal closing) stopped it.
    @Test func aHangUpIgnoredAtTheStartIsIgnored() throws {
        let root = try TestPaths.temporaryDirectory("prepare-nohup").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let replacing = try ReplacingPrepare(in: root, untilShard: 1, stderr: FileHandle.nullDevice, ignoring: "HUP")
        kill(replacing.process.processIdentifier, SIGHUP)
        replacing.process.waitUntilExit()
        #expect(replacing.process.terminationReason == .exit && replacing.process.terminationStatus == 0)
        let prepared = try FileManager.default.contentsOfDirectory(atPath: replacing.out)
        #expect(!prepared.contains { $0.contains(".tmp-") } && prepared.count > replacing.earlier.count + 40, "\(prepared.sorted())")
    }

    /// Standard input (`-`) gives the shards its text would as a file, with --format, in its place among the inputs:
    /// here a text file, then JSON lines from standard input, as the two files give them.
    @Test func standardInputGivesTheShardsItsTextGivesAsAFile() throws {
        let root = try TestPaths.temporaryDirectory("prepare-stdin").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let lines = (0..<40).map { #"{"text": "Line \#($0): to be, or not to be"}"# }.joined(separator: "\n") + "\n"
        try "O Romeo, Romeo!\n".write(toFile: root + "/a.txt", atomically: false, encoding: .utf8)
        try lines.write(toFile: root + "/b.jsonl", atomically: false, encoding: .utf8)
        let options = ["--name", "c", "--val-tokens", "50", "--mirror", mirror]
        let files = try runGPT2(arguments: ["prepare", root + "/a.txt", root + "/b.jsonl", "--out", root + "/files"] + options)
        #expect(files.status == 0, "\(files.stderrText)")
        let streamed = try runGPT2(arguments: ["prepare", root + "/a.txt", "-", "--format", "jsonl", "--out", root + "/stream"] + options,
                                   stdin: Data(lines.utf8))
        #expect(streamed.status == 0, "\(streamed.stderrText)")
        for shard in ["c_val_000000.bin", "c_train_000000.bin"] {
            #expect(FileManager.default.contents(atPath: root + "/stream/" + shard) == FileManager.default.contents(atPath: root + "/files/" + shard),
                    "\(shard)")
        }
        #expect(try shardTokens(root + "/files/c_train_000000.bin").count > 100)
        // and text from standard input, as a text file of it (its JSON read as text)
        try lines.write(toFile: root + "/b.txt", atomically: false, encoding: .utf8)
        let text = try runGPT2(arguments: ["prepare", "-", "--format", "text", "--out", root + "/text"] + options, stdin: Data(lines.utf8))
        let textFile = try runGPT2(arguments: ["prepare", root + "/b.txt", "--out", root + "/textfile"] + options)
        #expect(text.status == 0 && textFile.status == 0, "\(text.stderrText)\(textFile.stderrText)")
        #expect(try shardTokens(root + "/text/c_train_000000.bin") == shardTokens(root + "/textfile/c_train_000000.bin"))
        #expect(try shardTokens(root + "/text/c_train_000000.bin") != shardTokens(root + "/files/c_train_000000.bin"))
    }

    /// What a stream needs is asked for before anything is read: --format (no file name tells), --name (where it
    /// comes first) and --val-tokens (whose default comes from a size not known); - is read once, so given once; and
    /// --format applies to streams only.
    @Test(arguments: [
        (["-", "--name", "a", "--val-tokens", "5"], "- (standard input) is a stream, read once: give --format text or --format jsonl"),
        (["-", "--format", "text", "--val-tokens", "5"], "- (standard input) has no file name to name the shards after: give --name"),
        (["-", "--format", "text", "--name", "a"], "<stdin> is read once, as it is tokenised, so the corpus's size is not known beforehand"),
        (["-", "-", "--format", "text", "--name", "a", "--val-tokens", "5"], "- (standard input) is given more than once"),
        (["--format", "text"], "--format does not apply to the tinyshakespeare dataset"),
        (["notes.txt", "--format", "text"], "--format does not apply to files, which go by their extension"),
    ])
    func aStreamNeedsItsFormatNameAndValidationSize(arguments: [String], message: String) throws {
        let root = try TestPaths.temporaryDirectory("prepare-stream-options").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try "notes".write(toFile: root + "/notes.txt", atomically: false, encoding: .utf8)
        let result = try runGPT2(arguments: ["prepare", "--out", root + "/out", "--mirror", mirror] + arguments,
                                 stdin: Data("text".utf8), workingDirectory: root)
        expectOneLineError(result, mentioning: message)
        #expect(!FileManager.default.fileExists(atPath: root + "/out"))
    }

    /// Whether process `pid` has a handler for `signal` (its SigCgt mask in /proc).
    private static func catches(_ signal: Int32, process pid: Int32) -> Bool {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("SigCgt:") }),
              let mask = UInt64(line.dropFirst("SigCgt:".count).trimmingCharacters(in: .whitespaces), radix: 16) else { return false }
        return mask & (1 << UInt64(signal - 1)) != 0
    }

    /// A stream that never ends: Ctrl-C stops a prepare waiting in its read (a first signal waited for the next 8 MiB),
    /// and a bad JSON line fails it there (the rest of the stream was read first, for a UTF-8 error to come first).
    @Test func aStreamThatNeverEndsIsLeftAtABadLineOrCtrlC() throws {
        let root = try TestPaths.temporaryDirectory("prepare-endless").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let gpt2 = buildProductsDirectory.appendingPathComponent("gpt2").path
        let prepare = "\"\(gpt2)\" prepare - --format jsonl --name web --val-tokens 10 --mirror \"\(mirror)\" --out"
        let bad = try runCommand("timeout", arguments: ["-s", "KILL", "60", "sh", "-c",
                                                        #"(echo '{"text": "a"}'; echo 'oops'; yes '{"text": "b"}') | "# + prepare + " \"\(root)/bad\""])
        expectOneLineError(bad, mentioning: "<stdin>:2: not a valid JSON object")

        let waiting = Process()
        waiting.executableURL = URL(fileURLWithPath: gpt2)
        waiting.arguments = ["prepare", "-", "--format", "jsonl", "--name", "web", "--val-tokens", "10", "--mirror", mirror,
                             "--out", root + "/idle"]
        let idle = Pipe()   // (a standard input nothing is written to, and that stays open)
        let (errors, log) = try Self.logFile(root + "/stderr")
        waiting.standardInput = idle
        waiting.standardError = errors
        try waiting.run()
        // Listening once SIGINT is caught (libdispatch's handler, installed as the prepare starts listening); a signal
        // before that ended the process. It is sent again while the prepare runs, should one go unseen.
        let deadline = Date().addingTimeInterval(60)
        while waiting.isRunning && !Self.catches(SIGINT, process: waiting.processIdentifier) && Date() < deadline { usleep(10_000) }
        usleep(100_000)
        let stopBy = Date().addingTimeInterval(30)
        var sent = Date.distantPast
        while waiting.isRunning && Date() < stopBy {
            if Date().timeIntervalSince(sent) > 5 {
                kill(waiting.processIdentifier, SIGINT)
                sent = Date()
            }
            usleep(10_000)
        }
        if waiting.isRunning {
            Issue.record("the prepare did not stop within 30 s of Ctrl-C")
            kill(waiting.processIdentifier, SIGKILL)
        }
        waiting.waitUntilExit()
        withExtendedLifetime(idle) {}
        #expect(waiting.terminationStatus == 130 && log().contains("interrupted: deleting the shards this prepare wrote"), "\(log())")
    }

    /// One stream given twice, by one name or by two, is refused before anything is read: the second read waited for a
    /// writer forever, or found the stream empty.
    @Test func aStreamGivenTwiceIsRefused() throws {
        let root = try TestPaths.temporaryDirectory("prepare-stream-twice").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let fifo = root + "/pipe"
        try #require(mkfifo(fifo, 0o600) == 0)
        let options = ["--format", "text", "--name", "n", "--val-tokens", "1", "--out", root + "/out", "--mirror", mirror]
        let byName = try runCommand("timeout", arguments: ["-s", "KILL", "30", buildProductsDirectory.appendingPathComponent("gpt2").path,
                                                           "prepare", fifo, fifo] + options)
        expectOneLineError(byName, mentioning: "\(fifo) is given more than once; a stream can be read only once")
        let twoNames = try runCommand("sh", arguments: ["-c", #"echo text | "$0" prepare - /dev/stdin "$@""#,
                                                        buildProductsDirectory.appendingPathComponent("gpt2").path] + options)
        expectOneLineError(twoNames, mentioning: "- (standard input) and /dev/stdin are one stream; a stream can be read only once")
        #expect(!FileManager.default.fileExists(atPath: root + "/out"))
    }

    /// A bad line in standard input is found as it is tokenised, after shards of the corpus were written: the prepare
    /// fails at that line, and the shards an earlier prepare of the name left stay as they were.
    @Test func aBadLineInAStreamLeavesTheEarlierShards() throws {
        let root = try TestPaths.temporaryDirectory("prepare-stream-bad").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let out = root + "/out"
        let prepare = ["prepare", "-", "--format", "jsonl", "--name", "web", "--val-tokens", "10", "--shard-tokens", "65536",
                       "--out", out, "--mirror", mirror]
        let good = (0..<20).map { #"{"text": "Document \#($0)."}"# }.joined(separator: "\n")
        #expect(try runGPT2(arguments: prepare, stdin: Data(good.utf8)).status == 0)
        let earlier = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
        let earlierBytes = earlier.map { FileManager.default.contents(atPath: out + "/" + $0) }
        // ~200k tokens (three shards) before line 3,001, which is no JSON
        let long = #"{"text": ""# + String(repeating: "All the world's a stage. ", count: 12) + #""}"#
        let bad = Array(repeating: long, count: 3000).joined(separator: "\n") + "\n{\"text\": oops}\n" + long + "\n"
        let failed = try runGPT2(arguments: prepare, stdin: Data(bad.utf8))
        expectOneLineError(failed, mentioning: "<stdin>:3001: not a valid JSON object")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).sorted() == earlier, "no new shard, no temporary")
        #expect(earlier.map { FileManager.default.contents(atPath: out + "/" + $0) } == earlierBytes)
    }

    @Test func jsonlDocumentsAreEndOfTextPlusTokenizerOutput() throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let documents = ["Hello world!", "Ünïcödé  and   spaces\n", "The end."]
        let lines = try documents.map { String(decoding: try JSONEncoder().encode(["body": $0, "id": "x"]), as: UTF8.self) }
        let input = directory.appendingPathComponent("docs.jsonl")
        try Data(lines.joined(separator: "\n").utf8).write(to: input)
        let out = directory.appendingPathComponent("out")
        let result = try runGPT2(arguments: ["prepare", input.path, "--field", "body", "--val-tokens", "3",
                                             "--out", out.path, "--mirror", mirror])
        #expect(result.status == 0, "\(result.stderrText)")
        let tokenizer = try GPT2Tokenizer(directory: TestPaths.mirror.appendingPathComponent("gpt2").path)
        let expected = documents.flatMap { [GPT2Tokenizer.endOfText] + tokenizer.encode($0) }
        let written = try shardTokens(out.appendingPathComponent("docs_val_000000.bin").path)
            + shardTokens(out.appendingPathComponent("docs_train_000000.bin").path)
        #expect(written == expected)
    }

    @Test(arguments: [
        ("missing.txt", nil, "missing.txt"),
        ("bad.jsonl", "{\"text\": \"ok\"}\n{oops}\n", "bad.jsonl:2"),
        ("latin1.txt", "caf\u{E9}", "offset 3"),
    ] as [(String, String?, String)])
    func badInputFailsWithMessageAndCreatesNothing(name: String, contents: String?, message: String) throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let input = directory.appendingPathComponent(name)
        if let contents {
            // latin1.txt is written in ISO-8859-1, so "é" is the single byte 0xE9.
            try (name.hasPrefix("latin1") ? Data(contents.unicodeScalars.map { UInt8($0.value) }) : Data(contents.utf8))
                .write(to: input)
        }
        let out = directory.appendingPathComponent("out")
        // An empty mirror: the inputs must be checked before the tokenizer is even looked for.
        let emptyMirror = directory.appendingPathComponent("mirror")
        try FileManager.default.createDirectory(at: emptyMirror, withIntermediateDirectories: true)
        let result = try runGPT2(arguments: ["prepare", input.path, "--out", out.path, "--mirror", emptyMirror.path])
        #expect(result.status != 0)
        #expect(result.stderrText.contains(message), "\(result.stderrText)")
        #expect(!FileManager.default.fileExists(atPath: out.path), "nothing written")
    }

    /// A prepare that fails after creating its output folders removes them again when they are empty: a corpus whose
    /// validation split takes everything (its val shard is removed too), and FineWeb with no mirror copy offline.
    @Test func aFailedPrepareLeavesNoEmptyFolders() throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let input = directory.appendingPathComponent("doc.txt")
        try Data("hello world, a very small corpus\n".utf8).write(to: input)
        let emptyMirror = directory.appendingPathComponent("mirror")
        try FileManager.default.createDirectory(at: emptyMirror, withIntermediateDirectories: true)
        let tooSmall = try runGPT2(arguments: ["prepare", input.path, "--val-tokens", "100000", "--out", directory.path + "/out/sub",
                                               "--mirror", TestPaths.mirror.path])
        #expect(tooSmall.status != 0 && tooSmall.stderrText.contains("lower --val-tokens"), "\(tooSmall.stderrText)")
        let offline = try runGPT2(arguments: ["prepare", "fineweb10B", "--shards", "1", "--out", directory.path + "/fineweb/10B",
                                              "--mirror", emptyMirror.path])
        #expect(offline.status != 0 && offline.stderrText.contains("missing from the data mirror"), "\(offline.stderrText)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == ["doc.txt", "mirror"])
        // an --out that is a file is named as such (it said "cannot write token shard doc.txt/doc_val_000000.bin.tmp-…")
        let intoAFile = try runGPT2(arguments: ["prepare", input.path, "--out", input.path, "--mirror", TestPaths.mirror.path])
        expectOneLineError(intoAFile, mentioning: "cannot create output directory \(input.path): a file of that name is there; give --out a folder")
    }

    /// Options that do not apply to what is prepared are refused, not ignored: fineweb10B comes cut and tokenised
    /// (--val-tokens 100 printed its 100M-token validation shard without a word).
    @Test(arguments: [(["fineweb10B", "--val-tokens", "100"], "--val-tokens does not apply to the fineweb10B dataset"),
                      (["fineweb10B", "--shard-tokens", "65536"], "--shard-tokens does not apply to the fineweb10B dataset"),
                      (["fineweb10B", "--field", "body"], "--field does not apply to the fineweb10B dataset"),
                      (["fineweb10B", "--threads", "2"], "--threads does not apply to the fineweb10B dataset"),
                      (["tinyshakespeare", "--shards", "2"], "--shards does not apply to the tinyshakespeare dataset"),
                      (["tinyshakespeare", "--field", "body"], "--field does not apply to the tinyshakespeare dataset"),
                      // (with text files alone, --field was ignored without a word)
                      (["notes.txt", "--field", "body"], "--field does not apply to text inputs, only to JSON lines: .jsonl, .ndjson and .json files, and streams read with --format jsonl")])
    func optionsThatDoNotApplyAreRefused(_ arguments: [String], _ message: String) throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Data("Some notes.\n".utf8).write(to: directory.appendingPathComponent("notes.txt"))   // (the text file prepared)
        let result = try runGPT2(arguments: ["prepare"] + arguments + ["--out", directory.path + "/out", "--mirror", TestPaths.mirror.path],
                                 workingDirectory: directory.path)
        expectOneLineError(result, mentioning: message)
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/out"))
    }

    /// A second corpus prepared into a folder is noted (train reads every name's shards there as one corpus, and said so
    /// only then), and so is an input given twice (its documents twice over).
    @Test func anotherCorpusInTheFolderAndARepeatedInputAreNoted() throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        for name in ["a", "b"] { try Data(String(repeating: "Some \(name) text. ", count: 200).utf8).write(to: directory.appendingPathComponent(name + ".txt")) }
        let options = ["--out", "d", "--val-tokens", "10", "--mirror", TestPaths.mirror.path]
        let first = try runGPT2(arguments: ["prepare", "a.txt"] + options, workingDirectory: directory.path)
        try #require(first.status == 0, "\(first.stderrText)")
        #expect(!first.stderrText.contains("note:"), "\(first.stderrText)")
        let second = try runGPT2(arguments: ["prepare", "b.txt", "b.txt"] + options, workingDirectory: directory.path)
        try #require(second.status == 0, "\(second.stderrText)")
        #expect(second.stderrText.contains("note: d also holds the shards of a, which train and eval read with these as one corpus"),
                "\(second.stderrText)")
        #expect(second.stderrText.contains("note: \(FileSystem.realPath(directory.path + "/b.txt")!) is given 2 times"), "\(second.stderrText)")
    }

    /// A first input that is a folder is said to be one (`notes/` was "the shards' name ''"), and a --name too long for
    /// the file names made of it is refused before the corpus is read (it failed at the end, renaming a temporary).
    @Test func aFolderOrALongNameIsRefusedAsSuch() throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("notes"), withIntermediateDirectories: true)
        try Data("Some notes.\n".utf8).write(to: directory.appendingPathComponent("notes.txt"))
        for folder in ["notes/", "."] {
            let result = try runGPT2(arguments: ["prepare", folder, "--mirror", TestPaths.mirror.path], workingDirectory: directory.path)
            expectOneLineError(result, mentioning: "cannot read input \(folder): ")
            #expect(!result.stderrText.contains("name"), "\(result.stderrText)")
        }
        let long = String(repeating: "n", count: 201)
        let named = try runGPT2(arguments: ["prepare", "notes.txt", "--name", long, "--mirror", TestPaths.mirror.path],
                                workingDirectory: directory.path)
        #expect(named.status != 0 && named.stderrText.contains("the shards' name '\(long)', from --name, is 201 bytes long: at most 200"),
                "\(named.stderrText)")
        let fits = try runGPT2(arguments: ["prepare", "notes.txt", "--name", String(long.dropLast()), "--out", "out", "--val-tokens", "1",
                                           "--mirror", TestPaths.mirror.path], workingDirectory: directory.path)
        #expect(fits.status == 0, "\(fits.stderrText)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == ["notes", "notes.txt", "out"])
    }

    /// A mistyped dataset name is refused with the names (and the one meant, when only its case differs), before
    /// the options are checked against text files: `fineweb10b --shards 1` was told --shards does not apply to them;
    /// a dataset's name among files is refused as such.
    @Test(arguments: [(["fineweb10b", "--shards", "1"], "did you mean fineweb10B? names are case-sensitive"),
                      (["tinyshakespear"], "tinyshakespear is neither a file nor a dataset name; the datasets are tinyshakespeare and fineweb10B"),
                      (["tinyshakespeare", "notes.txt"], "tinyshakespeare is a dataset, prepared on its own (gpt2 prepare tinyshakespeare), not with other inputs")])
    func aMistypedDatasetNameIsRefusedWithTheNames(_ arguments: [String], _ message: String) throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try runGPT2(arguments: ["prepare"] + arguments + ["--mirror", TestPaths.mirror.path], workingDirectory: directory.path)
        expectOneLineError(result, mentioning: message)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
    }

    /// A named pipe is a stream as an input, which needs --format (asked before it is opened), and refused as a shard,
    /// instead of blocking for a writer forever (opening one for reading waits). `timeout` stops a regression instead
    /// of hanging the tests.
    @Test func aNamedPipeIsRefusedWithoutWaiting() throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let gpt2 = buildProductsDirectory.appendingPathComponent("gpt2").path
        let fifo = directory.appendingPathComponent("in.txt").path
        try #require(mkfifo(fifo, 0o644) == 0)
        let input = try runCommand("timeout", arguments: ["-s", "KILL", "30", gpt2, "prepare", fifo, "--out", directory.path + "/out",
                                                          "--mirror", TestPaths.mirror.path])
        expectOneLineError(input, mentioning: "in.txt is a stream, read once: give --format text or --format jsonl")
        let shards = directory.appendingPathComponent("shards").path
        try FileManager.default.createDirectory(atPath: shards, withIntermediateDirectories: true)
        try #require(mkfifo(shards + "/x_val_000000.bin", 0o644) == 0)
        let eval = try runCommand("timeout", arguments: ["-s", "KILL", "30", gpt2, "eval", "--checkpoint", try CLIFixtures.trainedRun(),
                                                         "--data", shards, "--threads", "2"])
        expectOneLineError(eval, mentioning: "x_val_000000.bin")
        #expect(eval.stderrText.contains("not a regular file"), "\(eval.stderrText)")
    }

    /// --name starts the shards' file names: a '/' wrote (or failed to write) outside --out, an empty name made
    /// `_train_000000.bin`, and `_val_` or `_train_` inside it would put a split's shards into the other split.
    @Test(arguments: ["a/b", "../escape", "", ".hidden", "x_train_y", "x_val_"])
    func aNameThatIsNoFilePrefixIsRefused(_ name: String) throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let input = directory.appendingPathComponent("doc.txt")
        try Data("hello world\n".utf8).write(to: input)
        let out = directory.appendingPathComponent("out")
        let result = try runGPT2(arguments: ["prepare", input.path, "--name", name, "--out", out.path, "--mirror", TestPaths.mirror.path])
        #expect(result.status != 0 && result.stderrText.contains("the shards' name '\(name)', from --name, must be a file-name prefix"),
                "\(result.stderrText)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["doc.txt"], "nothing written")
    }

    /// Without --name the first input's file name is the name, under the same rules: `run_val_2.txt` would have put
    /// the training shards into the validation split.
    @Test(arguments: ["x_train_y.txt", "run_val_2.txt", ".hidden.txt"])
    func aNameFromAnInputThatIsNoFilePrefixIsRefused(_ file: String) throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Data("hello world\n".utf8).write(to: directory.appendingPathComponent(file))
        let out = directory.appendingPathComponent("out")
        let result = try runGPT2(arguments: ["prepare", directory.appendingPathComponent(file).path, "--out", out.path,
                                             "--mirror", TestPaths.mirror.path])
        let stem = String(file.dropLast(4))
        #expect(result.status != 0 && result.stderrText.contains("the shards' name '\(stem)', from the first input's file name (choose another with --name)"),
                "\(result.stderrText)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == [file], "nothing written")
    }

    /// A shard of fewer than 64Ki tokens is refused: `--shard-tokens 1` wrote one file per token (120,000 of them in a minute).
    @Test(arguments: ["1", "65535", "2147483648"])
    func shardTokensOutOfRangeAreRefused(_ value: String) throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("out")
        let result = try runGPT2(arguments: ["prepare", "--shard-tokens", value, "--out", out.path, "--mirror", TestPaths.mirror.path])
        #expect(result.status != 0 && result.stderrText.contains("--shard-tokens must be between 65536 and 2^31-1 (got \(value)"),
                "\(result.stderrText)")
        #expect(!FileManager.default.fileExists(atPath: out.path), "nothing written")
    }

    /// The counts are checked before anything is read: a negative --val-tokens, and a --shards outside FineWeb-10B's
    /// 1…103 train shards (0 fetched only the validation shard).
    @Test(arguments: [(["notes.txt", "--val-tokens=-1"], "--val-tokens must be 0 or more"),
                      (["fineweb10B", "--shards", "0"], "--shards must be in 1…103"), (["fineweb10B", "--shards", "104"], "--shards must be in 1…103")])
    func countsOutOfRangeAreRefused(_ arguments: [String], _ message: String) throws {
        let result = try runGPT2(arguments: ["prepare"] + arguments + ["--mirror", TestPaths.mirror.path])
        #expect(result.status != 0 && result.stderrText.contains(message), "\(result.stderrText)")   // (with the usage, as a parse error)
    }

    /// --val-tokens 0 is taken: every token goes to the training split.
    @Test func noValidationTokensPutsEveryTokenInTraining() throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let input = directory.appendingPathComponent("notes.txt")
        try Data("Hello world".utf8).write(to: input)
        let out = directory.appendingPathComponent("out").path
        let result = try runGPT2(arguments: ["prepare", input.path, "--val-tokens", "0", "--out", out, "--mirror", TestPaths.mirror.path])
        try #require(result.status == 0, "\(result.stderrText)")
        // <|endoftext|>, then "Hello world" (tiktoken: 15496, 995)
        #expect(try shardTokens(out + "/notes_train_000000.bin") == [50256, 15496, 995])
    }

    @Test func helpShowsExamples() throws {
        let result = try runGPT2(arguments: ["prepare", "--help"])
        #expect(result.status == 0)
        #expect(result.stdoutText.contains("gpt2 prepare fineweb10B --shards 8"))
        #expect(result.stdoutText.contains("--val-tokens"))
    }
}
