/// A run folder (`--out`) and what marks it as holding a run — checkpoints or a metrics.jsonl — so that a
/// new run never mixes its files with an earlier run's (whose metrics it would truncate, and whose later
/// checkpoints `--resume` would pick up), and clearing one when the user asks to replace it.

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

public enum RunFolder {
    /// What an earlier run left in `path`, for a message ("2 checkpoints up to ckpt_8 and metrics.jsonl");
    /// nil when there is nothing (no folder, an empty one, or only other files).
    public static func earlierRun(in path: String) -> String? {
        var parts: [String] = []
        let steps = Checkpoint.steps(in: path)
        if let last = steps.last {
            parts.append(steps.count == 1 ? "checkpoint ckpt_\(last)" : "\(steps.count) checkpoints up to ckpt_\(last)")
        }
        if (FileSystem.size(FileSystem.join(path, MetricsLog.fileName)) ?? 0) > 0 { parts.append(MetricsLog.fileName) }
        return parts.isEmpty ? nil : parts.joined(separator: " and ")
    }

    /// Throws when `path` already holds a run (checkpoints or metrics), which a new run there would mix with its own,
    /// saying what to do instead. A command checks it before slow preparations (downloads), the trainer again, holding
    /// the run's lock; `checkingLock` first refuses a folder another process trains in (whose files are no earlier
    /// run to --resume or --overwrite).
    public static func refuseEarlierRun(in path: String, checkingLock: Bool = true) throws {
        if checkingLock { try RunLock.refuseIfInUse(path) }
        guard let earlier = earlierRun(in: path) else { return }
        let resumable = !Checkpoint.steps(in: path).isEmpty
        throw TrainingError("\(path) already holds a run (\(earlier)"
                            + (resumable ? "); continue it with --resume \(path), choose another --out, "
                                         : ", and no checkpoint to continue it from); choose another --out, ")
                            + "or add --overwrite to replace it")
    }

    /// Removes what a run writes into `path` — its checkpoint folders and metrics.jsonl; other files stay.
    public static func clear(_ path: String) throws {
        try removeCheckpoints(Checkpoint.steps(in: path), from: path)
        let metrics = FileSystem.join(path, MetricsLog.fileName)
        guard FileSystem.isFile(metrics) else { return }
        do {
            try FileManager.default.removeItem(atPath: metrics)
        } catch {
            throw FileError("cannot remove \(metrics) (--overwrite): \(error)")
        }
    }

    /// Removes the checkpoint folders of `steps` from run folder `path`.
    public static func removeCheckpoints(_ steps: [Int], from path: String) throws {
        for step in steps {
            do {
                try Checkpoint.remove(step: step, in: path)
            } catch {
                throw FileError("cannot remove \(FileSystem.join(path, Checkpoint.folderName(step: step))) (--overwrite): \(error)")
            }
        }
    }
}
