/// Removing a folder with everything in it (a checkpoint, a self-test's runs), with the system's reason when it fails.

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif

extension FileSystem {
    /// Removes `path` and, if it is a folder, everything in it (symbolic links are removed, not followed).
    public static func removeTree(_ path: String) throws {
        do {
            try FileManager.default.removeItem(atPath: path)
        } catch {
            // (FileManager's error prints as an NSCocoaErrorDomain dump; the system's reason is the POSIX error under it)
            let reason = ((error as? CocoaError)?.underlying as? POSIXError).map { String(cString: strerror($0.code.rawValue)) }
            throw FileError("cannot remove \(path)" + (reason.map { ": \($0)" } ?? ""))
        }
    }
}
