//! The `auditlake` command: parses arguments and hands over to the library through `cli`.

mod cli;

// The hot path (decoding events, building Arrow arrays, grouping) allocates many small strings;
// mimalloc is markedly faster than glibc malloc at that (see BENCHMARKS.md), as datafusion-cli
// also chooses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
