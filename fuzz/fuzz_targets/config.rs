//! config.json loading and validation: any bytes give a Spec or an error
//! naming a field, never a panic. Validation runs against a bundle
//! directory that holds a rootfs, so it goes past the root checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

fn bundle() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // scripts/fuzz.sh gives a scratch dir it removes afterwards.
        let dir = match std::env::var_os("CORRAL_FUZZ_BUNDLE") {
            Some(d) => PathBuf::from(d),
            None => std::env::temp_dir().join(format!("corral-fuzz-bundle-{}", std::process::id())),
        };
        std::fs::create_dir_all(dir.join("rootfs")).expect("bundle dir");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    match libcontainer::spec::parse(data) {
        Ok(spec) => {
            let checked = libcontainer::spec::validate(&spec, bundle()).and_then(|_| {
                let extras = libcontainer::spec::parse_extras(data)?;
                libcontainer::idmap::check(&spec, &extras)
            });
            if let Err(e) = checked {
                assert!(!e.to_string().is_empty());
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
