//! The test driver's save image (`Image::parse`, what a restore reads from the file).
//! An image that reads must write back to bytes that read as the same image, unless its
//! XML is empty (a NUL first), which no save writes and no read accepts.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use virshim::drivers::test::Image;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("/fuzz/test-image");
    let Ok(image) = Image::parse(data, path) else {
        return;
    };
    if image.xml.is_empty() {
        return;
    }
    let bytes = image.encode().expect("an image that reads encodes");
    assert_eq!(Image::parse(&bytes, path).expect("re-read"), image);
});
