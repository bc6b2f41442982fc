// ELF64 parsing for cubins (see Cubin.h). Field offsets are the ELF64 specification's; the `.nv.info`
// records are NVIDIA's: a format byte, an attribute byte, then for format 0x04 a 16-bit size and a payload
// (for EIATTR_REGCOUNT = 0x2f: the kernel's symbol index and its register count, two 32-bit words),
// for format 0x03 a 16-bit value, for format 0x01 nothing.

#include "Cubin.h"

#include <algorithm>
#include <cstring>

namespace cuemu {
namespace {

uint64_t read(const unsigned char* bytes, size_t offset, size_t width) {
    uint64_t value = 0;
    std::memcpy(&value, bytes + offset, width);
    return value;
}

struct Section {
    std::string name;
    uint32_t type;
    uint64_t offset, size;
    uint32_t link;
};

std::vector<Section> sections(const std::vector<unsigned char>& image) {
    const unsigned char* bytes = image.data();
    const uint64_t table = read(bytes, 0x28, 8), entry = read(bytes, 0x3A, 2), count = read(bytes, 0x3C, 2);
    const uint64_t namesIndex = read(bytes, 0x3E, 2);
    const uint64_t names = read(bytes, table + namesIndex * entry + 0x18, 8);
    std::vector<Section> result;
    for (uint64_t i = 0; i < count; i++) {
        const size_t header = table + i * entry;
        result.push_back({reinterpret_cast<const char*>(bytes + names + read(bytes, header, 4)), uint32_t(read(bytes, header + 4, 4)),
                          read(bytes, header + 0x18, 8), read(bytes, header + 0x20, 8), uint32_t(read(bytes, header + 0x28, 4))});
    }
    return result;
}

}  // namespace

std::optional<size_t> elf_image_size(const unsigned char* bytes) {
    if (std::memcmp(bytes, "\x7f" "ELF", 4) != 0 || bytes[4] != 2 || bytes[5] != 1) return std::nullopt;
    const uint64_t programTable = read(bytes, 0x20, 8), sectionTable = read(bytes, 0x28, 8);
    const uint64_t programEntry = read(bytes, 0x36, 2), programCount = read(bytes, 0x38, 2);
    const uint64_t sectionEntry = read(bytes, 0x3A, 2), sectionCount = read(bytes, 0x3C, 2);
    uint64_t size = std::max(programTable + programEntry * programCount, sectionTable + sectionEntry * sectionCount);
    for (uint64_t i = 0; i < sectionCount; i++) {
        const size_t header = sectionTable + i * sectionEntry;
        if (read(bytes, header + 4, 4) != 8) size = std::max(size, read(bytes, header + 0x18, 8) + read(bytes, header + 0x20, 8));   // 8: SHT_NOBITS
    }
    for (uint64_t i = 0; i < programCount; i++) {
        const size_t header = programTable + i * programEntry;
        size = std::max(size, read(bytes, header + 0x08, 8) + read(bytes, header + 0x20, 8));
    }
    return size;
}

int cubin_architecture(const unsigned char* bytes) {
    const uint64_t flags = read(bytes, 0x30, 4);
    return int(bytes[8] >= 8 ? (flags >> 8) & 0xFF : flags & 0xFF);   // bytes[8]: EI_ABIVERSION
}

int cubin_toolkit_version(const std::vector<unsigned char>& image) {
    const unsigned char* bytes = image.data();
    for (const Section& section : sections(image)) {
        if (section.name != ".note.nv.cuinfo" || section.size < 12) continue;
        // A note: name size, description size, type (32 bits each), then the name and the description, each padded to 4.
        const uint64_t nameBytes = (read(bytes, section.offset, 4) + 3) / 4 * 4, descriptionBytes = read(bytes, section.offset + 4, 4);
        if (descriptionBytes >= 6 && 12 + nameBytes + descriptionBytes <= section.size)
            return int(read(bytes, section.offset + 12 + nameBytes + 4, 2));
    }
    const uint64_t version = read(bytes, 0x14, 4);   // e_version
    return version > 1 ? int(version) : 0;
}

std::optional<KernelResources> kernel_resources(const std::vector<unsigned char>& image, const std::string& kernel) {
    const unsigned char* bytes = image.data();
    const std::vector<Section> all = sections(image);
    const auto symbols = std::find_if(all.begin(), all.end(), [](const Section& s) { return s.type == 2; });   // SHT_SYMTAB
    if (symbols == all.end()) return std::nullopt;
    const uint64_t names = all[symbols->link].offset;
    std::optional<uint64_t> index;
    for (uint64_t i = 0; i * 24 < symbols->size; i++)
        if (kernel == reinterpret_cast<const char*>(bytes + names + read(bytes, symbols->offset + i * 24, 4))) index = i;
    if (!index) return std::nullopt;

    KernelResources resources;
    for (const Section& section : all) {
        if (section.name == ".nv.shared." + kernel) resources.staticSharedBytes = section.size;
        if (section.name != ".nv.info" && section.name != ".nv.info." + kernel) continue;
        for (uint64_t at = section.offset; at + 2 <= section.offset + section.size;) {
            const unsigned format = bytes[at], attribute = bytes[at + 1];
            if (format == 0x04) {
                const uint64_t size = read(bytes, at + 2, 2);
                if (attribute == 0x2f && size == 8 && read(bytes, at + 4, 4) == *index)
                    resources.registersPerThread = unsigned(read(bytes, at + 8, 4));
                at += 4 + size;
            } else {
                at += format == 0x03 ? 4 : 2;
            }
        }
    }
    return resources;
}

}  // namespace cuemu
