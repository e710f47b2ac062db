# Website chat for lead qualification: build, run, test, bench.
#
#   make            build everything under build/
#   make run        install what is missing, build, start the whole stack
#   make test       install what is missing, build, run every test
#   make bench      benchmarks (figures and ratios against in-run baselines)
#   make bench-compare  our stack against the FastAPI peer, one table (QUICK=1: a smoke)
#   make soak       ~80 % of saturation for SOAK_SECONDS (600): zero errors, flat memory
#   make deploy-check  the deployment files (Fly, ECS, Cloudflare) against the built programs
#   make compose-test  images + docker-compose.yml end to end (skipped, saying so, without Docker)
#   make backup-test   backup -> S3 (SigV4-verifying fake) -> restore round trip
#   make SAN=1 ...  the same with AddressSanitizer + UndefinedBehaviorSanitizer
#   make SAN=thread ...  the same with ThreadSanitizer (build/tsan)
#   make fuzz       every libFuzzer target FUZZ_SECONDS (60) s each, one table (docs/internals/fuzzing.md)
#   make fuzz-smoke the same for 5 s each (part of make test)
#   make fmt        clang-format our C sources
#   make fmt-check  fail when a C source is not clang-formatted (part of make test)
#   make clean

SAN ?= 0
FUZZ ?= 0
CC ?= gcc
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 5
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)

ifeq ($(FUZZ),1)
# The fuzz build (tests/fuzz/): everything compiled by clang with libFuzzer's
# coverage instrumentation plus ASan and UBSan; the targets link -fsanitize=fuzzer.
BUILD := build/fuzz
CC := $(FUZZ_CC)
SANFLAGS := -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else ifeq ($(SAN),1)
BUILD := build/san
SANFLAGS := -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else ifeq ($(SAN),thread)
BUILD := build/tsan
SANFLAGS := -O1 -fsanitize=thread -fno-omit-frame-pointer
else
BUILD := build/release
SANFLAGS := -O2
endif
GEN := build/gen

PKGS := libprotobuf-c libmicrohttpd libpq jansson libcurl libxml-2.0 openssl zlib
# nng: Debian 12's 1.5.2 rebuilt with our fixes (deploy/nng/), found through
# an rpath so neither our programs nor Criterion load the system's copy.
NNG_PREFIX ?= /opt/chat/nng
PKG_CFLAGS := -I$(NNG_PREFIX)/include $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := -L$(NNG_PREFIX)/lib -Wl,-rpath,$(NNG_PREFIX)/lib $(shell pkg-config --libs $(PKGS) 2>/dev/null) \
            -lnng -lpthread -lm

CFLAGS := -std=c11 -D_GNU_SOURCE -g $(SANFLAGS) -Wall -Wextra -Werror -Wshadow -Wno-missing-field-initializers \
          -Ilib -I$(GEN) $(PKG_CFLAGS) -DCHAT_VERSION='"$(VERSION)"' -DCHAT_NNG_PREFIX='"$(NNG_PREFIX)"' -MMD -MP
# Generated protobuf-c code is not ours: compile it without -Werror extras.
GEN_CFLAGS := -std=c11 -D_GNU_SOURCE -g $(SANFLAGS) -I$(NNG_PREFIX)/include -I$(GEN) -w
LDFLAGS := $(SANFLAGS) -Wl,--as-needed

PROTOS := $(wildcard proto/*.proto)
PB_C := $(patsubst proto/%.proto,$(GEN)/%.pb-c.c,$(PROTOS))
PB_H := $(PB_C:.c=.h)
PB_O := $(patsubst $(GEN)/%.c,$(BUILD)/gen/%.o,$(PB_C))

MIGRATIONS := $(sort $(wildcard svc-session/migrations/*.sql))

# The local embedder: Snowball stemmer (lib/stem.c) and LAPACK (lib/lsa.c).
PKG_LIBS += -lstemmer -llapacke

LIB_SRC := $(wildcard lib/*.c)
LIB_O := $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRC))
LIBCHAT := $(BUILD)/libchat.a

PROGRAMS := gateway svc-session svc-retrieval svc-llm svc-indexer
BINS := $(addprefix $(BUILD)/bin/,$(PROGRAMS))

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
BENCH_SRC := $(wildcard tests/bench/*.c)
BENCH_BINS := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BINS := $(patsubst tests/tools/%.c,$(BUILD)/tools/%,$(TOOL_SRC))

.PHONY: all deps run test unit integration bench bench-compare clean fmt fmt-check stop eval
.DEFAULT_GOAL := all

all: $(BINS) bin-links

deps:
	@./deploy/local/install-deps.sh

# Convenience links so scripts find the current build under build/bin.
bin-links: $(BINS)
	@mkdir -p build/bin
	@for p in $(PROGRAMS); do ln -sfn ../$(notdir $(BUILD))/bin/$$p build/bin/$$p; done

$(GEN)/%.pb-c.c $(GEN)/%.pb-c.h: proto/%.proto
	@mkdir -p $(GEN)
	protoc-c --c_out=$(GEN) -Iproto $<

$(BUILD)/gen/%.o: $(GEN)/%.c $(PB_H)
	@mkdir -p $(dir $@)
	$(CC) $(GEN_CFLAGS) -c $< -o $@

$(GEN)/migrations.c: $(MIGRATIONS) scripts/embed-sql.sh
	@mkdir -p $(GEN)
	./scripts/embed-sql.sh $(MIGRATIONS) > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/migrations.o: $(GEN)/migrations.c
	@mkdir -p $(dir $@)
	$(CC) $(GEN_CFLAGS) -c $< -o $@

$(BUILD)/%.o: %.c $(PB_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIBCHAT): $(LIB_O) $(PB_O)
	@rm -f $@
	ar rcs $@ $^

# Each program: its objects; all but main.o also go into an archive that
# unit tests link, so a module is testable without its program.
define program_rule
$(1)_SRC := $$(wildcard $(1)/*.c)
$(1)_O := $$(patsubst %.c,$$(BUILD)/%.o,$$($(1)_SRC))
$(1)_LIBO := $$(filter-out $$(BUILD)/$(1)/main.o,$$($(1)_O))
$$(BUILD)/lib$(1).a: $$($(1)_LIBO)
	@rm -f $$@
	ar rcs $$@ $$^
$$(BUILD)/bin/$(1): $$($(1)_O) $$(LIBCHAT) $(2)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$($(1)_O) $(2) $$(LIBCHAT) $$(PKG_LIBS)
endef
$(eval $(call program_rule,gateway,))
$(eval $(call program_rule,svc-session,$(BUILD)/gen/migrations.o))
$(eval $(call program_rule,svc-retrieval,))
$(eval $(call program_rule,svc-llm,))
$(eval $(call program_rule,svc-indexer,))
PROG_LIBS := $(foreach p,$(PROGRAMS),$(BUILD)/lib$(p).a)
TEST_INC := $(addprefix -I,$(PROGRAMS))

$(BUILD)/tests/%: tests/unit/%.c $(LIBCHAT) $(PROG_LIBS) $(BUILD)/gen/migrations.o $(PB_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(TEST_INC) -o $@ $< $(PROG_LIBS) $(BUILD)/gen/migrations.o $(LIBCHAT) $(PKG_LIBS) -lcriterion $(LDFLAGS)

$(BUILD)/bench/%: tests/bench/%.c $(LIBCHAT) $(PROG_LIBS) $(PB_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(TEST_INC) -o $@ $< $(PROG_LIBS) $(LIBCHAT) $(PKG_LIBS) $(LDFLAGS)

$(BUILD)/tools/%: tests/tools/%.c $(LIBCHAT) $(PROG_LIBS) $(PB_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(TEST_INC) -o $@ $< $(PROG_LIBS) $(LIBCHAT) $(PKG_LIBS) $(LDFLAGS)

# A libFuzzer target: one tests/fuzz/fuzz_<name>.c against the program
# archives (only in the FUZZ=1 build, where everything is instrumented).
$(BUILD)/fuzz/%: tests/fuzz/%.c $(LIBCHAT) $(PROG_LIBS) $(BUILD)/gen/migrations.o $(PB_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(TEST_INC) -fsanitize=fuzzer -o $@ $< $(PROG_LIBS) $(BUILD)/gen/migrations.o $(LIBCHAT) $(PKG_LIBS) $(LDFLAGS)

# make fuzz: each target for FUZZ_SECONDS from its corpus, one table at the end;
# fuzz-smoke: FUZZ_SMOKE_SECONDS each. Exit 1 naming the target and the
# crashing input when one crashed.
.PHONY: fuzz fuzz-smoke fuzz-build
fuzz-build:
	@$(MAKE) --no-print-directory FUZZ=1 fuzz-bins
.PHONY: fuzz-bins
fuzz-bins: $(FUZZ_BINS)

fuzz: fuzz-build
	@./tests/fuzz/run.sh build/fuzz $(FUZZ_SECONDS)

fuzz-smoke: fuzz-build
	@./tests/fuzz/run.sh build/fuzz $(FUZZ_SMOKE_SECONDS)

# Retrieval quality on a real manual (Python's, from Debian) and on kb/.
$(BUILD)/eval/eval_retrieval: tests/retrieval/eval_retrieval.c $(LIBCHAT) $(PROG_LIBS) $(PB_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(TEST_INC) -o $@ $< $(PROG_LIBS) $(LIBCHAT) $(PKG_LIBS) $(LDFLAGS)

.PHONY: eval-retrieval
eval-retrieval: deps
	@$(MAKE) --no-print-directory all $(BUILD)/eval/eval_retrieval
	@./tests/retrieval/eval-real.sh $(BUILD)

run: deps
	@$(MAKE) --no-print-directory all
	@./deploy/local/run.sh

stop:
	@./deploy/local/run.sh --stop

unit: $(UNIT_BINS)
	@./tests/run-unit.sh $(UNIT_BINS)

integration: all $(TOOL_BINS) deploy-check
	@./tests/integration/run.sh $(BUILD)

# Each phase prints its duration, so a slowdown shows before CI's limit.
test: deps
	@t0=$$(date +%s); $(MAKE) --no-print-directory fmt-check || exit 1; \
	 $(MAKE) --no-print-directory all unit || exit 1; \
	 t1=$$(date +%s); echo "make test: build + unit $$((t1 - t0)) s"; \
	 $(MAKE) --no-print-directory fuzz-smoke || exit 1; \
	 tf=$$(date +%s); echo "make test: fuzz smoke $$((tf - t1)) s"; \
	 $(MAKE) --no-print-directory integration || exit 1; \
	 t2=$$(date +%s); echo "make test: integration $$((t2 - tf)) s"; \
	 echo "make test: all suites passed in $$((t2 - t0)) s"

bench: deps
	@$(MAKE) --no-print-directory all $(BENCH_BINS)
	@./tests/bench/run.sh $(BUILD)

# Sustained load at ~80 % of saturation for SOAK_SECONDS (600): zero errors, flat memory.
SOAK_SECONDS ?= 600
.PHONY: soak
soak: deps
	@$(MAKE) --no-print-directory all $(BUILD)/bench/bench_chat $(BUILD)/bench/health_probe
	@./tests/bench/soak.sh $(BUILD) --seconds $(SOAK_SECONDS)

# Our stack and tests/bench/peers/fastapi/ under the same client: build/bench/compare.md.
bench-compare: deps
	@$(MAKE) --no-print-directory all $(BUILD)/bench/bench_chat $(BUILD)/bench/query_vectors
	@./tests/bench/compare.sh $(BUILD) $(if $(QUICK),--quick)

# Conversation evaluation (docs/evaluation.md): the local eval stack, or
# TARGET=https://... for a deployment. FLOOR=0.xx: exit 1 under that pass rate.
eval: all
	@TARGET="$(TARGET)" FLOOR="$(FLOOR)" BUILD=$(BUILD) ./tests/eval/eval.sh

fmt:
	clang-format -i $$(git ls-files '*.c' '*.h')

# deploy-check runs before the integration tests (so in make test);
# test_compose.sh and test_backup.sh are integration tests too (run.sh runs
# every tests/integration/test_*.sh); these targets run one alone.
.PHONY: deploy-check compose-test backup-test
deploy-check: all
	@python3 deploy/check.py --build $(BUILD) --quiet --selftest

compose-test:
	@bash tests/integration/test_compose.sh

backup-test: all
	@bash tests/integration/test_backup.sh $(BUILD)

fmt-check:
	@clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h') && echo "fmt-check: every C source is clang-formatted"

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
