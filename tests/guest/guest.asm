; A test guest that proves guest state survives a save and restore.
;
; A multiboot v1 kernel for `qemu-system-x86_64 -kernel` (QEMU loads it at 1 MiB and enters
; it in 32-bit protected mode, flat segments, paging and interrupts off). It fills guest RAM
; from 2 MiB up to the top of RAM with an xorshift32 stream from a fixed seed, then counts
; forever. A test that reads RAM before a save and after a restore can check every byte of
; the filled region against the stream, and the counter tells whether the guest resumed
; where it stopped rather than booting again.
;
; Build: nasm -f bin -o guest.bin guest.asm   (the tests do this; no binary is committed)
;
; Status block at physical 0x180000 (below the 2 MiB fill, above the image and the
; multiboot information QEMU places right after it), all little endian:
;   +0x00  8 bytes  "FILLDONE" once the fill is complete ("FAILED!!" if the loader did
;                   not give a multiboot memory size), zero before
;   +0x08  u32      end of the filled region = 1 MiB + mem_upper KiB: the top of RAM as the
;                   loader reports it (QEMU 7.2's BIOS keeps the last 128 KiB for itself,
;                   so 0x1FE0000 for a 32 MiB guest)
;   +0x0c  u32      the seed, 0x2545F491
;   +0x10  u64      the counter, incremented forever once the fill is complete
;
; The stream: x0 = seed; x(n+1) = xorshift32(x(n)) with shifts 13, 17, 5; the u32 at
; 0x200000 + 4*i is x(i+1).

bits 32
org 0x100000

MB_MAGIC    equ 0x1BADB002
MB_FLAGS    equ 0x00010002      ; bit 1: give memory sizes; bit 16: load addresses follow
MB_BOOTED   equ 0x2BADB002      ; EAX at entry from a multiboot loader

STATUS      equ 0x180000
FILL_BASE   equ 0x200000
SEED        equ 0x2545F491

header:
    dd MB_MAGIC
    dd MB_FLAGS
    dd -(MB_MAGIC + MB_FLAGS)
    dd header                   ; header_addr
    dd header                   ; load_addr: the file is loaded whole at 1 MiB
    dd 0                        ; load_end_addr: to the end of the file
    dd 0                        ; bss_end_addr: no bss
    dd start                    ; entry_addr

start:
    cli
    cmp eax, MB_BOOTED
    jne fail
    test dword [ebx], 1         ; multiboot info flags bit 0: mem_lower/mem_upper valid
    jz fail
    mov ecx, [ebx + 8]          ; mem_upper: KiB of RAM above 1 MiB
    shl ecx, 10
    add ecx, 0x100000           ; ecx = top of RAM
    cmp ecx, FILL_BASE
    jbe fail
    mov [STATUS + 0x08], ecx
    mov dword [STATUS + 0x0c], SEED

    mov eax, SEED
    mov edi, FILL_BASE
fill:
    mov edx, eax                ; x ^= x << 13
    shl edx, 13
    xor eax, edx
    mov edx, eax                ; x ^= x >> 17
    shr edx, 17
    xor eax, edx
    mov edx, eax                ; x ^= x << 5
    shl edx, 5
    xor eax, edx
    mov [edi], eax
    add edi, 4
    cmp edi, ecx
    jb fill

    mov dword [STATUS + 0x00], 'FILL'
    mov dword [STATUS + 0x04], 'DONE'
count:
    add dword [STATUS + 0x10], 1
    adc dword [STATUS + 0x14], 0
    jmp count

fail:
    mov dword [STATUS + 0x00], 'FAIL'
    mov dword [STATUS + 0x04], 'ED!!'
halt:
    hlt
    jmp halt
