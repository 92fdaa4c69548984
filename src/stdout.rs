//! Writing a command's answer to stdout without `println!`'s panic when the reader has gone
//! (`launchguard check | head`): a closed pipe ends the output quietly, the command's exit
//! status stays what the work decided, and any other write error is said once on stderr.

use std::fmt;
use std::io::{self, Write};

/// Writes `args` to stdout; a broken pipe is not an error of the command.
pub fn write(args: fmt::Arguments<'_>) {
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush())
        && e.kind() != io::ErrorKind::BrokenPipe
    {
        eprintln!("warning: cannot write to stdout: {e}");
    }
}

/// `print!` that survives a closed stdout.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::stdout::write(format_args!($($arg)*)) };
}

/// `println!` that survives a closed stdout.
#[macro_export]
macro_rules! outln {
    () => { $crate::stdout::write(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::stdout::write(format_args!("{}\n", format_args!($($arg)*))) };
}
