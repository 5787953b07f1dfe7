//! The `auditlake` command: parses arguments and hands over to the library through `cli`.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
