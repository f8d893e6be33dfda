# The two commands that matter: `make run` serves on the embedded default,
# `make test` runs every test (installing the real clients it needs).

GO ?= go
export PATH := /usr/local/go/bin:$(PATH)
# The version every binary reports (wicket version, the start-up log line,
# the root DSE's vendorVersion). Outside a git checkout it is empty and the
# binary falls back to what the Go toolchain recorded.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
OUT ?= bin/wicket

.PHONY: all build run test vet fmt-check bench fuzz screenshots clean

all: build

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(OUT) ./cmd/wicket

run: build
	exec $(OUT) serve

# Fuzzing is bounded by a count of inputs, not a duration: with a duration,
# Go 1.26's fuzzing coordinator can report its own deadline as a failure
# (golang/go#75804, fixed in Go 1.27). 400,000 inputs are about 20 s here.
FUZZ_EXECS = 400000x

test: fmt-check
	./scripts/install-test-deps.sh
	$(GO) vet ./...
	$(GO) test -race -timeout 15m ./...
	$(GO) test ./server -run '^$$' -fuzz FuzzDecodeRequest -fuzztime $(FUZZ_EXECS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# The account page's pictures in README, taken by its browser test at a
# phone's width and a desktop's (needs chromium, as make test installs it).
screenshots:
	WICKET_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run '^TestAccountPage_Screenshots$$' ./integration/

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

fuzz:
	$(GO) test ./server -run '^$$' -fuzz FuzzDecodeRequest -fuzztime 2000000x

clean:
	rm -rf bin
