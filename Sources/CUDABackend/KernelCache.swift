/// The on-disk cache of compiled kernels: one file per (kernel file, architecture), named by a SHA-256 key
/// over everything that changes the output, so a stale entry is never loaded, only left unused.

import GPT2

/// Compiled kernel images on disk, in `$GPT2_KERNEL_CACHE` or `~/.cache/gpt2-swift/kernels`.
public struct KernelCache: Sendable {
    public let folder: String

    public init(folder: String) { self.folder = folder }

    /// The cache folder the environment names: `GPT2_KERNEL_CACHE`, else `kernels` in gpt2's cache folder
    /// (`FileSystem.cacheFolder`: `$XDG_CACHE_HOME/gpt2-swift`, `~/.cache/gpt2-swift`, or one under /tmp per user).
    public init(paths: CUDALibraryPaths = CUDALibraryPaths()) {
        let environment = paths.environment
        if let explicit = environment["GPT2_KERNEL_CACHE"], !explicit.isEmpty {
            folder = explicit   // (a leading ~ is already the home folder: `CUDALibraryPaths.processEnvironment`)
        } else {
            folder = FileSystem.join(FileSystem.cacheFolder { environment[$0] }, "kernels")
        }
    }

    /// A cache entry: the image, then its XXH64 (8 bytes, little-endian), so that an entry changed on disk is compiled
    /// again rather than loaded: the driver refuses an image cut short, but would run machine code with a flipped bit.
    static func entry(_ image: [UInt8]) -> [UInt8] { image + checksumBytes(of: image) }

    /// The image of a cache `entry` whose checksum matches; nil for one that does not (damaged, cut short). (The bare
    /// images earlier gpt2s stored are under keys of v1, which this one never looks up.)
    static func checkedImage(_ entry: [UInt8]) -> [UInt8]? {
        guard entry.count > 8 else { return nil }
        let image = Array(entry.dropLast(8))
        return entry.suffix(8).elementsEqual(checksumBytes(of: image)) ? image : nil
    }

    /// The XXH64 of `image` as an entry ends with it.
    private static func checksumBytes(of image: [UInt8]) -> [UInt8] {
        withUnsafeBytes(of: XXHash64.digest(of: image).littleEndian) { Array($0) }
    }

    /// The key: SHA-256 over the entries' layout version, the kernel source, every header, the NVRTC options (which
    /// name the architecture and include folders) and NVRTC's version.
    public static func key(file: String, source: String, headers: [(name: String, source: String)],
                           options: [String], nvrtcVersion: String) -> String {
        var hash = SHA256()
        func add(_ text: String) {
            hash.update(Array(text.utf8))
            hash.update([0])   // separator, so ("ab","c") and ("a","bc") differ
        }
        // v2: an entry is the image and its checksum (`entry`); v1's were bare images, which a gpt2 of v2 compiles again
        // and a gpt2 of v1 would have loaded with the checksum's 8 bytes on its end
        add("gpt2-swift kernel cache v2")
        add("nvrtc \(nvrtcVersion)")
        options.forEach(add)
        add(file)
        add(source)
        for header in headers {
            add(header.name)
            add(header.source)
        }
        return hash.finalizeHex()
    }

    /// The key for compiling `file` with `compiler` for `architecture`.
    public func key(file: String, source: String, compiler: NVRTCCompiler, architecture: GPUArchitecture) -> String {
        Self.key(file: file, source: source, headers: compiler.headers,
                 options: compiler.options(for: architecture), nvrtcVersion: compiler.version)
    }

    /// Where the image for `key` lives: `attention-sm_90-<first 16 hex digits>.cubin`.
    public func path(file: String, architecture: GPUArchitecture, key: String) -> String {
        "\(folder)/\(Self.imageName(file: file, architecture: architecture, key: key))"
    }

    /// The file name of `file`'s image for `architecture` under `key` (in the cache, and among prebuilt images):
    /// the file's stem, the architecture and the key's first 16 hex digits, `attention-sm_90-0123456789abcdef.cubin`.
    static func imageName(file: String, architecture: GPUArchitecture, key: String) -> String {
        let stem = file.hasSuffix(".cu") ? String(file.dropLast(3)) : file
        return "\(stem)-\(architecture)-\(key.prefix(16)).\(architecture.outputKind)"
    }

    /// The compiled image of `file`: from the cache when present and whole (unless `recompiling`: an entry the driver
    /// refused), else compiled and then stored. A cache that cannot be written is not an error: the freshly
    /// compiled image is returned anyway, saying why it was not stored (`notCached`).
    public func image(file: String, source: String, compiler: NVRTCCompiler,
                      architecture: GPUArchitecture, recompiling: Bool = false) throws -> CompiledKernel {
        let key = key(file: file, source: source, compiler: compiler, architecture: architecture)
        let path = path(file: file, architecture: architecture, key: key)
        let cached = !recompiling && FileSystem.isFile(path)
        if cached, let entry = try? ByteFile.contents(ofFile: path), let image = Self.checkedImage(entry) {
            return CompiledKernel(file: file, architecture: architecture, image: image, seconds: 0, fromCache: true)
        }
        var compiled = try compiler.compile(file: file, source: source, for: architecture)
        compiled.replacedDamagedEntry = cached
        if !FileSystem.makeDirectories(folder) {
            compiled.notCached = "cannot create the kernel cache \(folder) (GPT2_KERNEL_CACHE): \(FileSystem.lastErrorMessage)"
        } else {
            do {
                try AtomicFile.write(path) { try $0.write(Self.entry(compiled.image)) }
            } catch {
                compiled.notCached = "\(error) (GPT2_KERNEL_CACHE chooses another folder)"
            }
        }
        return compiled
    }
}
