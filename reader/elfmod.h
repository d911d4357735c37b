/*
 * Module headers (ELF and PE) parsed from bytes copied out of the target.
 *
 * The parser sees a module as the loader laid it out: image offset 0 is the
 * module's base (its lowest mapping) and bytes are pulled through a read
 * callback at image offsets. It knows nothing of ptrace or FUSE, so tests and
 * fuzzers feed it files or plain buffers.
 *
 * The target is untrusted and may have scribbled over its own headers. Every
 * offset and count is checked before use, headers are copied into private
 * size-capped buffers before libelf sees them, and an inconsistent module is
 * reported as corrupt (with the first problem named) rather than refused.
 * Memory use is bounded (under 2.5 MiB per call) whatever the input says.
 */
#ifndef PTRACEFS_ELFMOD_H
#define PTRACEFS_ELFMOD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum mod_type {
	MOD_UNKNOWN = 0,	/* neither "\177ELF" nor "MZ" at the base */
	MOD_ELF,
	MOD_PE,
};

#define MOD_BUILD_ID_MAX 64
#define MOD_VERSION_MAX 256

struct mod_info {
	enum mod_type type;
	bool corrupt;			/* magic present, headers inconsistent */
	const char *why;		/* static: first problem, or what it is not */

	/* GNU build id (NT_GNU_BUILD_ID), build_id_len 0 when there is none. */
	uint8_t build_id[MOD_BUILD_ID_MAX];
	size_t build_id_len;

	/*
	 * ELF: highest p_vaddr + p_memsz of the PT_LOADs, relative to the
	 * link-time address of the base. For a shared object linked at 0
	 * that is ClrMD's "largest p_vaddr + p_memsz"; for an ET_EXEC at
	 * 0x400000 it is still a size. It may exceed mapped_len: .bss past
	 * the last file page is an anonymous mapping with no path.
	 * PE: SizeOfImage.
	 */
	uint64_t image_size;

	/* ELF only. */
	uint8_t elf_class;		/* ELFCLASS32 / ELFCLASS64 */
	uint8_t elf_data;		/* ELFDATA2LSB / ELFDATA2MSB */
	uint16_t elf_type;		/* ET_EXEC, ET_DYN, ... */
	uint16_t elf_machine;		/* EM_* */
	/*
	 * The printable NUL-terminated text after "@(#)Version " in the first
	 * writable PT_LOAD (CoreCLR stamps its builds so; ClrMD looks there),
	 * "" when absent. Informational: never makes a module corrupt.
	 */
	char version[MOD_VERSION_MAX + 1];

	/* PE only. */
	uint16_t pe_machine;		/* IMAGE_FILE_MACHINE_* */
	uint16_t pe_magic;		/* 0x10b PE32, 0x20b PE32+ */
	uint32_t pe_timestamp;		/* COFF TimeDateStamp */
	uint32_t pe_size_of_image;	/* optional header SizeOfImage */
};

/*
 * Copies len bytes at image offset off into buf. The caller fills holes
 * with zeros; it returns len (the parser zero-fills past a short count) or
 * -errno, which mod_parse passes on. mod_parse never asks for bytes at or
 * past mapped_len, and for at most about 2.2 MiB in all.
 */
typedef ssize_t (*mod_read_fn)(void *ctx, uint64_t off, void *buf, size_t len);

/*
 * Parses the module whose base is image offset 0 and whose mappings span
 * mapped_len bytes; nothing at or past mapped_len is read. Fills *out and
 * returns 0 whatever the bytes say (unknown and corrupt are results, not
 * errors); -ENOMEM, or the read callback's -errno.
 *
 * ELF, class 32 or 64, either byte order: the lowest PT_LOAD must map the
 * ELF header (p_offset < 4 KiB and <= p_vaddr), which fixes the link-time
 * address of the base as p_vaddr - p_offset; that equals the load bias rule
 * (ET_DYN: 0; ET_EXEC: lowest p_vaddr page-aligned down) without needing
 * the target's page size. Notes are found through PT_NOTE p_vaddr against
 * that address; a build id kept only in a section (Go binaries put theirs
 * in no PT_NOTE) is not visible in memory and reads as none.
 */
int mod_parse(mod_read_fn rd, void *ctx, uint64_t mapped_len,
	      struct mod_info *out);

/*
 * The build id as lowercase hex and a NUL. Returns the number of hex
 * digits, -ENOENT when there is no build id, -ERANGE when outlen is short.
 */
int mod_build_id_hex(const struct mod_info *mi, char *out, size_t outlen);

#endif
