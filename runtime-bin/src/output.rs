//! Writing to stdout without panicking when the reader has gone away
//! (`corral list | head`): the output just stops.

/// `println!` that ignores a closed stdout.
macro_rules! line {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

pub(crate) use line;
