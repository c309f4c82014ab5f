# mcp-edge: the nginx module, the mcpd daemon, their tests and benchmarks.
#
#   make            build build/ngx_mcp_module.so and build/mcpd
#   make run        install what is missing, build, start nginx + mcpd (PORT=8080)
#   make test       install, build, unit tests + fuzz smoke (ASan/UBSan), t/ suite,
#                   then its daemon-heavy part again with mcpd under ASan/UBSan,
#                   and its edge part with nginx + the module under ASan/UBSan
#   make fuzz       longer fuzz runs
#   make bench-edge|bench-store|bench-llm|bench-sse|bench-chat   benchmarks (bench/)
#
# Sources are found by wildcard: a new file in backend/src/<subsystem>/ or a
# new backend/tests/test_*.c needs no edit here.

SHELL       := /bin/bash
CC          := gcc
FUZZ_CC     := clang
PYTHON      := /usr/bin/python3
BUILD       := build
PORT        ?= 8080
SUDO        := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

NGINX_SRC   := /usr/share/nginx/src
NGX_BUILD   := $(BUILD)/nginx
MODULE_SO   := $(BUILD)/ngx_mcp_module.so
MCPD        := $(BUILD)/mcpd

DEB_PKGS    := build-essential clang libclang-rt-14-dev nginx nginx-dev \
               libuv1-dev libsqlite3-dev libcurl4-openssl-dev libjansson-dev \
               libyaml-dev libhiredis-dev redis-server sqlite3 jq curl \
               python3 python3-pytest python3-websockets python3-fastapi \
               python3-yaml python3-uvicorn libprotocol-websocket-perl \
               chromium valgrind

WARN        := -Wall -Wextra -Werror -Wno-unused-parameter
INCLUDES    := -Ibackend/src -Ibackend/src/link -Ingx_mcp_module
CFLAGS      := -std=c11 -D_GNU_SOURCE -O2 -g $(WARN) $(INCLUDES) -pthread
SAN_FLAGS   := -fsanitize=address,undefined -fno-omit-frame-pointer \
               -fno-sanitize-recover=undefined
LIBS        := -luv -lyaml -ljansson -lsqlite3 -lcurl -lhiredis -lpthread -lm

# mcpd: every .c under backend/src except the entry point forms a library
# that the daemon, the unit tests and the fuzz targets link against.
BACKEND_SRC := $(shell find backend/src -name '*.c' ! -path '*/core/main.c' | sort)
BACKEND_HDR := $(shell find backend/src -name '*.h')
# pure C pieces of the module (no nginx headers): mcp_*.c
MODPURE_SRC := $(sort $(wildcard ngx_mcp_module/mcp_*.c))
MODPURE_HDR := $(wildcard ngx_mcp_module/mcp_*.h)
LIB_SRC     := $(BACKEND_SRC) $(MODPURE_SRC)

LIB_OBJ     := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
SAN_OBJ     := $(LIB_SRC:%.c=$(BUILD)/san/%.o)
FUZZ_OBJ    := $(LIB_SRC:%.c=$(BUILD)/fobj/%.o)

UNIT_SRC    := $(sort $(wildcard backend/tests/test_*.c ngx_mcp_module/tests/test_*.c))
UNIT_BIN    := $(patsubst %.c,$(BUILD)/unit/%,$(notdir $(UNIT_SRC)))
FUZZ_SRC    := $(sort $(wildcard backend/fuzz/fuzz_*.c ngx_mcp_module/fuzz/fuzz_*.c))
FUZZ_BIN    := $(patsubst %.c,$(BUILD)/fuzz/%,$(notdir $(FUZZ_SRC)))
FUZZ_SECONDS ?= 20
SMOKE_SECONDS ?= 8
NPROC         := $(shell nproc)

vpath test_%.c backend/tests ngx_mcp_module/tests
vpath fuzz_%.c backend/fuzz ngx_mcp_module/fuzz

.SECONDARY:

.PHONY: all deps npm-deps run test unit fuzz-smoke fuzz integration \
        integration-asan nginx-asan integration-nginx-asan clean \
        bench bench-% run-cluster

# helper programs: bench/*.c (load generators, drivers) and t/mock/*.c (the
# LLM mock), each one file linked against the mcpd library objects
TOOL_SRC    := $(sort $(wildcard bench/*.c t/mock/*.c))
TOOL_BIN    := $(patsubst %.c,$(BUILD)/tools/%,$(notdir $(TOOL_SRC)))

vpath %.c bench t/mock

all: $(MCPD) $(MODULE_SO) $(TOOL_BIN)

# ---------------------------------------------------------------- installs

deps:
	@missing=$$(for p in $(DEB_PKGS); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
	    echo "installing Debian packages:" $$missing; \
	    $(SUDO) apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@# Node may come from elsewhere than Debian (then Debian's npm conflicts
	@# with it): install Debian's only when there is no node at all
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm; }

npm-deps: t/node_modules/.stamp

# npm ci deletes node_modules before installing: through a symlink (a git
# worktree sharing another checkout's install) it would empty that one
t/node_modules/.stamp: t/package.json t/package-lock.json
	@if [ -L t/node_modules ]; then \
	    echo "t/node_modules is a symlink (a shared install): npm ci skipped"; \
	else \
	    cd t && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.stamp; \
	fi

# ---------------------------------------------------------------- mcpd

$(BUILD)/obj/%.o: %.c $(BACKEND_HDR) $(MODPURE_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/backend/src/core/main.o: backend/src/core/main.c $(BACKEND_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(MCPD): $(BUILD)/obj/backend/src/core/main.o $(LIB_OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tools/%: %.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIB_OBJ) $(LIBS)

# the mock's header-only part (t/mock/*.c are single-file programs)
$(BUILD)/tools/llm_mock: t/mock/llm_mock_scenarios.h

# ---------------------------------------------------------------- module

# configure once per change of `config` or of the module's list of files
# (nginx's objs/Makefile names each source); `make modules` is incremental
MODULE_LIST := $(BUILD)/module-files.txt
$(shell mkdir -p $(BUILD); ls ngx_mcp_module/*.c ngx_mcp_module/*.h \
    2>/dev/null > $(MODULE_LIST).new; cmp -s $(MODULE_LIST).new $(MODULE_LIST) \
    || mv $(MODULE_LIST).new $(MODULE_LIST); rm -f $(MODULE_LIST).new)

$(NGX_BUILD)/objs/Makefile: config $(MODULE_LIST)
	rm -rf $(NGX_BUILD)
	mkdir -p $(BUILD)
	cp -r $(NGINX_SRC) $(NGX_BUILD)
	cd $(NGX_BUILD) && . ./conf_flags && ./configure "$${NGX_CONF_FLAGS[@]}" \
	    --with-cc-opt="-Wextra -Wno-unused-parameter -Werror" \
	    --add-dynamic-module=$(CURDIR) > configure.log

$(MODULE_SO): $(NGX_BUILD)/objs/Makefile $(wildcard ngx_mcp_module/*.c ngx_mcp_module/*.h) \
              backend/src/link/mcp_link_codec.c backend/src/link/mcp_link_codec.h
	$(MAKE) -s -C $(NGX_BUILD) -f objs/Makefile modules
	cp $(NGX_BUILD)/objs/ngx_mcp_module.so $@

# ---------------------------------------------------------------- tests

$(BUILD)/san/%.o: %.c $(BACKEND_HDR) $(MODPURE_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -O1 $(SAN_FLAGS) -c $< -o $@

$(BUILD)/unit/%: %.c $(SAN_OBJ) backend/tests/unit.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -O1 $(SAN_FLAGS) -Ibackend/tests -o $@ $< $(SAN_OBJ) $(LIBS)

FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 $(WARN) $(INCLUDES) -pthread

$(BUILD)/fobj/%.o: %.c $(BACKEND_HDR) $(MODPURE_HDR)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@

$(BUILD)/fuzz/%: %.c $(FUZZ_OBJ)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_OBJ) $(LIBS)

unit: $(UNIT_BIN)
	@failed=0; for t in $(UNIT_BIN); do \
	    echo "== $$t"; \
	    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $$t || failed=1; \
	done; exit $$failed

# backend/fuzz/run.sh runs each fuzz target from its seed corpus, with its
# dictionary, FUZZ_JOBS at a time (one per core: libFuzzer runs one
# thread).  Every target's whole output goes to $(BUILD)/fuzz/<name>.log and
# its end is shown; a target that fails (a crash, a leak, a timeout) fails
# the run once every target ran.
FUZZ_JOBS ?= $(NPROC)

define run_fuzz
	bash backend/fuzz/run.sh $(1) $(FUZZ_JOBS) $(BUILD)/fuzz $(FUZZ_BIN)
endef

fuzz-smoke: $(FUZZ_BIN)
	$(call run_fuzz,$(SMOKE_SECONDS))

fuzz: $(FUZZ_BIN)
	$(call run_fuzz,$(FUZZ_SECONDS))

integration: all npm-deps
	MCP_MODULE_SO=$(CURDIR)/$(MODULE_SO) MCPD_BIN=$(CURDIR)/$(MCPD) \
	    $(PYTHON) -m pytest -q -p no:cacheprovider t/

# mcpd itself under ASan/UBSan, for the integration tests: a memory error
# aborts it, a leak is reported when it exits; either leaves a report in
# $(BUILD)/asan/, which fails the run.  make test runs every file that
# drives the daemon (ASAN_TESTS: about 3.5 minutes), not the edge's and the
# page's; ASAN_TESTS=t/ runs them all (about 5 minutes).
MCPD_ASAN  := $(BUILD)/mcpd-asan
ASAN_TESTS ?= t/test_redis*.py t/test_chat*.py t/test_mcpd*.py t/test_store*.py \
              t/test_llm*.py t/test_mcp_*.py t/test_health*.py t/test_ws_chaos.py

$(MCPD_ASAN): backend/src/core/main.c $(SAN_OBJ)
	$(CC) $(CFLAGS) -O1 $(SAN_FLAGS) -o $@ $< $(SAN_OBJ) $(LIBS)

# $(1): what runs sanitized, $(2): its report directory, $(3): the
# environment that points the harness at it, $(4): the test files.  A
# report fails the run even when every test passed.
define run_sanitized
	rm -rf $(2) && mkdir -p $(2)
	UBSAN_OPTIONS=print_stacktrace=1:log_path=$(CURDIR)/$(2)/ubsan \
	$(3) $(PYTHON) -m pytest -q -p no:cacheprovider $(4); rc=$$?; \
	if ls $(2)/* > /dev/null 2>&1; then \
	    echo "$(1) under ASan/UBSan reported:"; cat $(2)/*; exit 1; \
	fi; exit $$rc
endef

integration-asan: all npm-deps $(MCPD_ASAN)
	$(call run_sanitized,mcpd,$(BUILD)/asan,\
	    ASAN_OPTIONS=detect_leaks=1:log_path=$(CURDIR)/$(BUILD)/asan/asan \
	    MCP_MODULE_SO=$(CURDIR)/$(MODULE_SO) MCPD_BIN=$(CURDIR)/$(MCPD_ASAN),\
	    $(ASAN_TESTS))

# nginx itself and the module under ASan/UBSan (ngx_mcp_module/tests/nginx-asan.sh
# fetches and configures nginx's source once): the tests of what faces the
# client again, the WebSocket edge first; a report in $(BUILD)/asan-nginx/
# fails the run.  NGX_ASAN_TESTS=t/ runs them all (about 5 minutes).
# Memory errors are checked, not leaks: nginx leaves its configuration and
# its connections to the OS at exit, by design.  Nor is it an ODR
# violation: every dynamic module has its own ngx_modules and
# ngx_module_names (found with dlsym), and so does the binary.
NGX_ASAN       := $(BUILD)/nginx-asan
NGX_ASAN_TESTS ?= t/test_ws*.py t/test_health_verdict.py t/test_mcpd_link.py

$(NGX_ASAN)/src/objs/Makefile: config $(MODULE_LIST) ngx_mcp_module/tests/nginx-asan.sh
	bash ngx_mcp_module/tests/nginx-asan.sh $(NGX_ASAN) $(CURDIR)

nginx-asan: $(NGX_ASAN)/src/objs/Makefile
	$(MAKE) -s -C $(NGX_ASAN)/src -f objs/Makefile binary modules

integration-nginx-asan: all npm-deps nginx-asan
	$(call run_sanitized,nginx,$(BUILD)/asan-nginx,\
	    ASAN_OPTIONS=detect_leaks=0:detect_odr_violation=0:log_path=$(CURDIR)/$(BUILD)/asan-nginx/asan \
	    NGINX_BIN=$(CURDIR)/$(NGX_ASAN)/src/objs/nginx \
	    MCP_MODULE_SO=$(CURDIR)/$(NGX_ASAN)/src/objs/ngx_mcp_module.so \
	    MCPD_BIN=$(CURDIR)/$(MCPD),\
	    $(NGX_ASAN_TESTS))

# everything make test runs is built first, one compiler per core; the
# tests then run one stage at a time (their output stays readable, and
# the integration tests own the machine's cores)
test: deps
	$(MAKE) -j$(NPROC) all $(UNIT_BIN) $(FUZZ_BIN) $(MCPD_ASAN) nginx-asan
	$(MAKE) unit
	$(MAKE) fuzz-smoke
	$(MAKE) integration
	$(MAKE) integration-asan
	$(MAKE) integration-nginx-asan

# ---------------------------------------------------------------- run

run: deps
	$(MAKE) all npm-deps
	PORT=$(PORT) $(PYTHON) t/lib/run_stack.py

run-cluster: deps
	$(MAKE) all npm-deps
	PORT=$(PORT) $(PYTHON) t/lib/run_stack.py --cluster

bench: bench-edge bench-store bench-store-cold bench-llm bench-sse bench-chat

bench-%: deps
	$(MAKE) all npm-deps
	bash bench/$*.sh

clean:
	rm -rf $(BUILD)
