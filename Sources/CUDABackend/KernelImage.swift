/// Checks that a kernel image is whole before the driver reads it: `cuModuleLoadData` takes no length and reads a
/// cubin as far as its ELF headers say, and PTX up to its NUL, so an image cut short (a cache entry or a copy that
/// stopped part-way) would be read past its end instead of refused.

enum KernelImage {
    /// Why `image` is neither a whole 64-bit little-endian ELF file (its header, header tables, sections and segments
    /// all inside its bytes) nor NUL-terminated PTX text, or nil when it is one of them.
    static func problem(_ image: [UInt8]) -> String? {
        guard image.starts(with: [0x7F, 0x45, 0x4C, 0x46]) else {   // "\u{7F}ELF"
            return image.last == 0 ? nil : "it is neither a cubin (an ELF file) nor PTX text ending in a NUL (\(image.count) bytes)"
        }
        let headerBytes = 64
        guard image.count >= headerBytes else { return "it is cut short: \(image.count) bytes, less than an ELF header" }
        guard image[4] == 2, image[5] == 1 else { return "it is an ELF file, but not the 64-bit little-endian kind a cubin is" }
        func read(_ offset: UInt64, _ width: Int) -> UInt64? {
            guard offset <= UInt64(image.count), UInt64(image.count) - offset >= UInt64(width) else { return nil }
            return (0..<width).reduce(UInt64(0)) { $0 | UInt64(image[Int(offset) + $1]) << (8 * UInt64($1)) }
        }
        let programTable = read(0x20, 8)!, sectionTable = read(0x28, 8)!
        let programEntry = read(0x36, 2)!, programCount = read(0x38, 2)!
        let sectionEntry = read(0x3A, 2)!, sectionCount = read(0x3C, 2)!
        guard sectionCount == 0 || sectionEntry >= 0x40, programCount == 0 || programEntry >= 0x38 else {
            return "its ELF header is damaged (header table entries shorter than ELF64's)"
        }
        var extent = UInt64(headerBytes)
        /// Extends `extent` to `offset + length`; whether the image still holds it.
        func reach(_ offset: UInt64, _ length: UInt64) -> Bool {
            let (end, overflow) = offset.addingReportingOverflow(length)
            extent = overflow ? .max : max(extent, end)
            return extent <= UInt64(image.count)
        }
        if reach(programTable, programEntry * programCount), reach(sectionTable, sectionEntry * sectionCount) {
            for index in 0..<sectionCount {
                let header = sectionTable + index * sectionEntry
                let type = read(header + 4, 4)!, offset = read(header + 0x18, 8)!, size = read(header + 0x20, 8)!
                if type != 8, !reach(offset, size) { break }   // 8: SHT_NOBITS, which takes no bytes of the file
            }
            for index in 0..<programCount {
                let header = programTable + index * programEntry
                if !reach(read(header + 0x08, 8)!, read(header + 0x20, 8)!) { break }
            }
        }
        guard extent <= UInt64(image.count) else {
            return "it is cut short: its ELF headers describe "
                + (extent == .max ? "more bytes than a file holds" : "\(extent) bytes") + ", and it has \(image.count)"
        }
        return nil
    }
}
