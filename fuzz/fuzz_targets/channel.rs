//! The parent ↔ init channel (CVE-2021-43784): any byte stream from the
//! other side gives messages, a clean end or an error — never a panic, and
//! never an allocation over the channel's 1 MiB limit.
#![no_main]

use libcontainer::process::channel::Channel;
use libfuzzer_sys::fuzz_target;
use std::io::Write;
use std::os::unix::net::UnixStream;

fuzz_target!(|data: &[u8]| {
    let (mut tx, rx) = UnixStream::pair().expect("socketpair");
    // The test inputs are small (libFuzzer's -max_len): they fit in the
    // socket buffer, so writing all before reading cannot block.
    tx.write_all(data).expect("write");
    drop(tx);
    let mut ch = Channel::from(rx);
    for _ in 0..data.len() + 1 {
        match ch.recv() {
            Ok(Some(_)) => continue,
            Ok(None) | Err(_) => return,
        }
    }
    panic!("more messages than bytes");
});
