//! The QEMU driver's save image: header, domain XML and cookie (`SaveImage::parse`, what
//! restore and the image calls read from the file). An image that reads, redefined in
//! place as `virDomainSaveImageDefineXML` does, must read back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use virshim::drivers::qemu::image::SaveImage;

fuzz_target!(|data: &[u8]| {
    let Ok(mut image) = SaveImage::parse(data) else {
        return;
    };
    if image.cookie.is_some() {
        image.header.cookie_offset = image.xml.len() as u32 + 1;
    }
    // The XML and cookie may not fit the data section once laid out afresh: refused.
    let Ok(bytes) = image.encode() else {
        return;
    };
    assert_eq!(SaveImage::parse(&bytes).expect("re-read"), image);
});
