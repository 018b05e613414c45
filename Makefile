# virshim: build, install and test the drop-in libvirt.so.0.
#
#   make lib        target/virshim/lib/libvirt.so.0.9000.0 (+ libvirt.so.0, libvirt.so links)
#   make headers    refresh the committed include/libvirt/*.h from the Rust declarations
#   make stubs      regenerate src/ffi/generated/ (the calls virshim does not implement, and
#                   their C types) from data/libvirt-api.json and data/implemented.txt, then
#                   the headers; `scripts/gen-stubs.py --refresh-data` refreshes
#                   data/libvirt-api.json from libvirt-dev's libvirt-api.xml
#   make install    PREFIX/lib, PREFIX/include/libvirt, PREFIX/lib/pkgconfig/libvirt.pc,
#                   PREFIX/share/libvirt/api/libvirt-api.xml (the pc file's libvirt_api)
#   make test       every test suite, ending with "N passed, N failed"
#   make demo       c-tests/demo.c built with pkg-config against the installed virshim, run
#   make bench      bench/run.sh
#   make bench-qemu bench/qemu.sh (as root): 1 GiB QEMU save/restore on virshim and libvirt 9.0,
#                   beside raw QEMU and dd; RUNS=N runs (default 3)
#   make bench-compressed  bench/compressed.sh (as root): each save_image_format's save and
#                   restore of a 1 GiB guest on virshim and libvirt 9.0, image sizes;
#                   FORMATS="raw gzip ..." and MIB=N to narrow it
#   make xml-diff   domain XML defined on virshim and on libvirt 9.0, compared over libvirt's
#                   own test documents and their mutations (tests/xmldiff/full.sh)
#   make fuzz       each fuzz target (fuzz/, libFuzzer on stable Rust) for FUZZ_TIME seconds
#                   (default 60); FUZZ_TARGET=NAME for one; README "Fuzzing"
#   make check      rustfmt, clippy (warnings are errors) and rustdoc (warnings are errors,
#                   private items included), for the crate and fuzz/
#   make tsan       ThreadSanitizer on the thread stress, Rust and C (needs nightly; see
#                   scripts/tsan.sh)
#
# The shared library is not cargo's cdylib: rustc gives a cdylib its own version script
# and the linker honours only the first one, so the symbols would lose libvirt's version
# nodes. Instead the staticlib is linked into a shared object here, with a version script
# generated from data/libvirt-public-symbols.txt (see scripts/gen-version-script.py).

CARGO ?= cargo
CC ?= cc
PYTHON ?= python3
PREFIX ?= /usr/local
DESTDIR ?=
RUNS ?= 3
FUZZ_TIME ?= 60
FUZZ_TARGET ?=

OUT := target/virshim
LIBOUT := $(OUT)/lib
STATICLIB := target/release/libvirshim.a
SYMBOLS := data/libvirt-public-symbols.txt
VERSION_SCRIPT := $(OUT)/libvirt.map
REALNAME := libvirt.so.0.9000.0
SONAME := libvirt.so.0
# What rustc reports for a staticlib on x86_64-linux-gnu (--print native-static-libs).
NATIVE_LIBS := -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc

# Where `make test` and `make demo` install virshim for the programs built with pkg-config.
TEST_PREFIX := $(OUT)/prefix

ABS_PREFIX = $(abspath $(PREFIX))
INSTALL_ROOT = $(DESTDIR)$(ABS_PREFIX)

.PHONY: all lib headers stubs install test demo bench bench-qemu bench-compressed xml-diff fuzz check tsan clean

all: lib

lib:
	$(CARGO) build --release --lib
	mkdir -p $(LIBOUT)
	$(PYTHON) scripts/gen-version-script.py $(SYMBOLS) $(STATICLIB) > $(VERSION_SCRIPT).tmp
	mv $(VERSION_SCRIPT).tmp $(VERSION_SCRIPT)
	$(CC) -shared -o $(LIBOUT)/$(REALNAME).tmp \
	    -Wl,--whole-archive $(STATICLIB) -Wl,--no-whole-archive \
	    -Wl,-soname,$(SONAME) -Wl,--version-script=$(VERSION_SCRIPT) \
	    -Wl,-z,defs -Wl,-z,relro -Wl,-z,now -Wl,--gc-sections $(NATIVE_LIBS)
	mv $(LIBOUT)/$(REALNAME).tmp $(LIBOUT)/$(REALNAME)
	ln -sfn $(REALNAME) $(LIBOUT)/$(SONAME)
	ln -sfn $(SONAME) $(LIBOUT)/libvirt.so
	$(PYTHON) scripts/check-exports.py $(LIBOUT)/$(REALNAME) $(SYMBOLS)

headers:
	bash scripts/update-headers.sh

stubs:
	$(PYTHON) scripts/gen-stubs.py
	$(MAKE) --no-print-directory headers

install: lib
	install -d $(INSTALL_ROOT)/lib/pkgconfig $(INSTALL_ROOT)/include/libvirt \
	    $(INSTALL_ROOT)/share/libvirt/api
	install -m 0755 $(LIBOUT)/$(REALNAME) $(INSTALL_ROOT)/lib/$(REALNAME)
	ln -sfn $(REALNAME) $(INSTALL_ROOT)/lib/$(SONAME)
	ln -sfn $(SONAME) $(INSTALL_ROOT)/lib/libvirt.so
	install -m 0644 include/libvirt/*.h $(INSTALL_ROOT)/include/libvirt/
	$(PYTHON) scripts/gen-api-xml.py data/libvirt-api.json > $(OUT)/libvirt-api.xml.tmp
	install -m 0644 $(OUT)/libvirt-api.xml.tmp $(INSTALL_ROOT)/share/libvirt/api/libvirt-api.xml
	rm -f $(OUT)/libvirt-api.xml.tmp
	sed 's|@PREFIX@|$(ABS_PREFIX)|g' pkgconfig/libvirt.pc.in > $(INSTALL_ROOT)/lib/pkgconfig/libvirt.pc

test:
	bash scripts/run-tests.sh

demo:
	bash scripts/setup.sh
	$(MAKE) --no-print-directory install PREFIX=$(TEST_PREFIX)
	PKG_CONFIG_PATH=$(abspath $(TEST_PREFIX))/lib/pkgconfig; export PKG_CONFIG_PATH; \
	$(CC) -Wall -o $(OUT)/demo c-tests/demo.c $$(pkg-config --cflags --libs libvirt)
	LD_LIBRARY_PATH=$(abspath $(TEST_PREFIX))/lib $(OUT)/demo

bench:
	bash scripts/setup.sh
	$(MAKE) --no-print-directory install PREFIX=$(TEST_PREFIX)
	VIRSHIM_LIBDIR=$(abspath $(LIBOUT)) VIRSHIM_PREFIX=$(abspath $(TEST_PREFIX)) bash bench/run.sh

bench-qemu:
	bash scripts/setup.sh
	$(MAKE) --no-print-directory lib
	VIRSHIM_LIBDIR=$(abspath $(LIBOUT)) bash bench/qemu.sh $(RUNS)

bench-compressed:
	bash scripts/setup.sh
	$(MAKE) --no-print-directory lib
	VIRSHIM_LIBDIR=$(abspath $(LIBOUT)) bash bench/compressed.sh

tsan:
	bash scripts/tsan.sh

xml-diff:
	bash scripts/setup.sh
	$(MAKE) --no-print-directory lib
	VIRSHIM_LIBDIR=$(abspath $(LIBOUT)) bash tests/xmldiff/full.sh

fuzz:
	bash scripts/fuzz.sh run $(FUZZ_TIME) $(FUZZ_TARGET)

check:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --all-targets -- -D warnings
	cd fuzz && $(CARGO) fmt --check && $(CARGO) clippy --bins -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps --document-private-items

clean:
	rm -rf $(OUT)
