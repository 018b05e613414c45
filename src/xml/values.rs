//! The scalar values domain XML carries (counts, scaled sizes, UUIDs, MAC addresses, disk
//! names), read with libvirt's rules so that the same strings pass and fail.

use crate::abi::virErrorDomain::{VIR_FROM_DOMAIN, VIR_FROM_NONE, VIR_FROM_XML};
use crate::abi::virErrorNumber::{VIR_ERR_INVALID_ARG, VIR_ERR_OVERFLOW, VIR_ERR_XML_ERROR};
use crate::error::{Error, Result};
use crate::xml::tree::SmallStr;

/// An unsigned decimal as libvirt's `virStrToLong_ullp` reads it: leading whitespace and
/// `+` allowed, no sign `-`, nothing after the digits.
pub fn parse_u64(s: &str) -> Option<u64> {
    let digits = s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let digits = digits.strip_prefix('+').unwrap_or(digits);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A signed decimal as libvirt's `virStrToLong_i` reads it: leading whitespace and a
/// sign allowed, nothing after the digits, within an int.
pub fn parse_i32(s: &str) -> Option<i32> {
    let digits = s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (negative, digits) = match digits.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, digits.strip_prefix('+').unwrap_or(digits)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let magnitude: i64 = digits.parse().ok()?;
    i32::try_from(if negative { -magnitude } else { magnitude }).ok()
}

pub fn parse_u32(s: &str) -> Option<u32> {
    parse_u64(s).and_then(|v| u32::try_from(v).ok())
}

/// An unsigned int as libvirt's `virStrToLong_uip` reads it in `base` (0: `0x` means
/// hexadecimal and a leading `0` octal; 16: `0x` allowed): leading whitespace and `+`
/// allowed, no `-`, nothing after the digits.
pub fn parse_u32_radix(s: &str, base: u32) -> Option<u32> {
    let digits = s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let digits = digits.strip_prefix('+').unwrap_or(digits);
    let hex = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
        .filter(|h| !h.is_empty());
    let (digits, radix) = match (base, hex) {
        (0 | 16, Some(h)) => (h, 16),
        (0, None) if digits.len() > 1 && digits.starts_with('0') => (&digits[1..], 8),
        (0, None) => (digits, 10),
        (b, _) => (digits, b),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u32::from_str_radix(digits, radix).ok()
}

/// Bytes per `unit` as libvirt's `virScaleInteger` understands units, in any case; no
/// unit means KiB.
fn unit_bytes(unit: &str) -> Result<u64> {
    if unit.is_empty() {
        return Ok(1024);
    }
    if ["b", "byte", "bytes"]
        .iter()
        .any(|u| unit.eq_ignore_ascii_case(u))
    {
        return Ok(1);
    }
    let mut bytes = unit.bytes().map(|b| b.to_ascii_lowercase());
    let power = bytes
        .next()
        .and_then(|c| b"kmgtpe".iter().position(|&p| p == c));
    let rest: [Option<u8>; 3] = [bytes.next(), bytes.next(), bytes.next()];
    let base: u64 = match rest {
        [None, ..] | [Some(b'i'), Some(b'b'), None] => 1024,
        [Some(b'b'), None, _] => 1000,
        _ => 0,
    };
    match (base, power) {
        (1000 | 1024, Some(p)) => Ok(base.pow(p as u32 + 1)),
        _ => Err(Error::new(
            VIR_ERR_INVALID_ARG,
            VIR_FROM_NONE,
            format!("unknown suffix '{unit}'"),
        )),
    }
}

/// A size read from an element's text and `unit` attribute, in KiB rounded up, as
/// libvirt's `virDomainParseMemory` reads it. None when the element is absent or empty.
/// `xpath` names the element in messages (`./memory[1]`).
pub fn parse_kib(text: Option<&str>, unit: Option<&str>, xpath: &str) -> Result<Option<u64>> {
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let value = parse_u64(text).ok_or_else(|| {
        Error::new(
            VIR_ERR_XML_ERROR,
            VIR_FROM_XML,
            format!("Invalid value '{text}' for element or attribute '{xpath}'"),
        )
    })?;
    let unit = unit.unwrap_or("");
    let scale = unit_bytes(unit)?;
    const LIMIT: u64 = i64::MAX as u64;
    if value > LIMIT / scale {
        return Err(Error::new(
            VIR_ERR_OVERFLOW,
            VIR_FROM_NONE,
            format!("value too large: {value}{unit}"),
        ));
    }
    let kib = (value * scale).div_ceil(1024);
    if kib >= LIMIT.div_ceil(1024) {
        return Err(Error::new(
            VIR_ERR_OVERFLOW,
            VIR_FROM_DOMAIN,
            "size value too large",
        ));
    }
    Ok(Some(kib))
}

/// A UUID as libvirt's `virUUIDParse` reads it: surrounding whitespace, and dashes or
/// spaces between the 16 hex pairs, are ignored.
pub fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let mut bytes = s
        .trim_start_matches(|c: char| c.is_ascii_whitespace())
        .bytes()
        .peekable();
    let mut uuid = [0u8; 16];
    for byte in &mut uuid {
        while matches!(bytes.peek(), Some(b'-' | b' ')) {
            bytes.next();
        }
        let hi = (bytes.next()? as char).to_digit(16)?;
        let lo = (bytes.next()? as char).to_digit(16)?;
        *byte = (hi * 16 + lo) as u8;
    }
    bytes.all(|b| b.is_ascii_whitespace()).then_some(uuid)
}

pub fn format_uuid(uuid: &[u8; 16]) -> String {
    uuid::Uuid::from_bytes(*uuid).hyphenated().to_string()
}

/// A MAC address as libvirt's `virMacAddrParse` reads it: six hex groups of one or two
/// digits separated by `:` or `-`.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut groups = s.as_bytes().split(|&b| b == b':' || b == b'-');
    for byte in &mut mac {
        let group = groups.next()?;
        if group.is_empty() || group.len() > 2 {
            return None;
        }
        *byte = group.iter().try_fold(0u8, |acc, &b| {
            Some(acc * 16 + char::from(b).to_digit(16)? as u8)
        })?;
    }
    groups.next().is_none().then_some(mac)
}

/// A MAC address as libvirt writes it: lower-case hex pairs joined by `:`.
pub fn format_mac(mac: &[u8; 6]) -> SmallStr {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = [b':'; 17];
    for (i, b) in mac.iter().enumerate() {
        text[3 * i] = HEX[usize::from(b >> 4)];
        text[3 * i + 1] = HEX[usize::from(b & 15)];
    }
    SmallStr::new(std::str::from_utf8(&text).expect("ASCII"))
}

/// A fresh address under the 52:54:00 prefix libvirt gives guests.
pub fn generate_mac() -> [u8; 6] {
    let random = uuid::Uuid::new_v4().into_bytes();
    [0x52, 0x54, 0x00, random[0], random[1], random[2]]
}

/// The drive index libvirt's `virDiskNameToIndex` gives a target name ("vdb" → 1,
/// "sdaa" → 26): letters after a known prefix, optionally followed by partition digits.
/// libvirt keeps it in an `int`: a longer name is no name (libvirt overflows, and then
/// spins adding controllers for a drive address it cannot use).
pub fn disk_index(name: &str) -> Option<u64> {
    let rest = ["fd", "hd", "vd", "sd", "xvd", "ubd"]
        .iter()
        .find_map(|prefix| name.strip_prefix(prefix))?;
    let letters = rest.bytes().take_while(u8::is_ascii_lowercase).count();
    if letters == 0 || !rest[letters..].bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.bytes()
        .take(letters)
        .enumerate()
        .try_fold(0u64, |idx, (i, c)| {
            let digit = u64::from(c - b'a');
            let base = if i == 0 {
                idx
            } else {
                idx.checked_add(1)?.checked_mul(26)?
            };
            base.checked_add(digit)
        })
        .filter(|&index| index <= i32::MAX as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_strtoull() {
        assert_eq!(parse_u64("+42"), Some(42));
        assert_eq!(parse_u64(" 42"), Some(42));
        assert_eq!(parse_u64("00042"), Some(42));
        for bad in ["42 ", "-5", "0x10", "1.5", "", "+", "99999999999999999999"] {
            assert_eq!(parse_u64(bad), None, "{bad:?}");
        }
        assert_eq!(parse_u32("4294967296"), None);
    }

    // Each value observed with `virsh define` on libvirt 9.0.
    #[test]
    fn sizes_scale_to_kib_like_libvirt() {
        let kib = |text, unit| parse_kib(Some(text), unit, "./memory[1]").unwrap().unwrap();
        assert_eq!(kib("64", Some("MiB")), 65536);
        assert_eq!(kib("1", Some("G")), 1048576);
        assert_eq!(kib("1000000", Some("b")), 977);
        assert_eq!(kib("1025", Some("bytes")), 2);
        assert_eq!(kib("1000", Some("KB")), 977);
        assert_eq!(kib("1", Some("MB")), 977);
        assert_eq!(kib("3", Some("kiB")), 3);
        assert_eq!(kib("3", Some("B")), 1);
        assert_eq!(kib("3", Some("BYTES")), 1);
        assert_eq!(kib("3", Some("e")), 3377699720527872);
        assert_eq!(kib("5", Some("")), 5);
        assert_eq!(kib("1", Some("PiB")), 1099511627776);
        assert_eq!(kib("9007199254740991", None), 9007199254740991);
        assert_eq!(
            parse_kib(Some(""), Some("XB"), "./memory[1]").unwrap(),
            None
        );
        assert_eq!(parse_kib(None, None, "./memory[1]").unwrap(), None);
    }

    #[test]
    fn size_errors_are_libvirts() {
        let err = |text, unit| parse_kib(Some(text), unit, "./memory[1]").unwrap_err();
        let e = err("abc", Some("XB"));
        assert_eq!(
            e.message,
            "XML error: Invalid value 'abc' for element or attribute './memory[1]'"
        );
        assert_eq!((e.code, e.domain), (VIR_ERR_XML_ERROR, VIR_FROM_XML));
        let e = err("1", Some("XB"));
        assert_eq!(e.message, "invalid argument: unknown suffix 'XB'");
        assert_eq!((e.code, e.domain), (VIR_ERR_INVALID_ARG, VIR_FROM_NONE));
        for unit in ["ki", "kibibyte", "KiBs"] {
            assert_eq!(
                err("3", Some(unit)).message,
                format!("invalid argument: unknown suffix '{unit}'")
            );
        }
        let e = err("9007199254740992", None);
        assert_eq!(
            e.message,
            "numerical overflow: value too large: 9007199254740992"
        );
        assert_eq!((e.code, e.domain), (VIR_ERR_OVERFLOW, VIR_FROM_NONE));
        assert_eq!(
            err("9007199254740991", Some("MiB")).message,
            "numerical overflow: value too large: 9007199254740991MiB"
        );
        assert_eq!(
            err("18446744073709551615", Some("b")).message,
            "numerical overflow: value too large: 18446744073709551615b"
        );
        let e = err("9223372036854775807", Some("b"));
        assert_eq!(e.message, "numerical overflow: size value too large");
        assert_eq!(e.domain, VIR_FROM_DOMAIN);
    }

    #[test]
    fn uuids_parse_like_libvirt() {
        let canonical = "6695eb01-f6a4-8304-79aa-97f2502e193f";
        let want = parse_uuid(canonical).unwrap();
        assert_eq!(format_uuid(&want), canonical);
        for same in [
            "6695eb01f6a4830479aa97f2502e193f",
            "6695EB01-F6A4-8304-79AA-97F2502E193F",
            " 6695eb01-f6a4-8304-79aa-97f2502e193f ",
            "6695-eb01-f6a4-8304-79aa-97f2-502e-193f",
            "6695eb01--f6a4-8304-79aa-97f2502e193f",
        ] {
            assert_eq!(parse_uuid(same), Some(want), "{same}");
        }
        for bad in [
            "zzz",
            "6695eb01-f6a4-8304-79aa-97f2502e193",
            "6695eb01-f6a4-8304-79aa-97f2502e193f0",
            "6-695eb01-f6a4-8304-79aa-97f2502e193f",
            "6695eb01-f6a4-8304-79aa-97f2502e193f-",
        ] {
            assert_eq!(parse_uuid(bad), None, "{bad}");
        }
    }

    #[test]
    fn macs() {
        assert_eq!(
            format_mac(&parse_mac("52:54:00:AB:CD:EF").unwrap()),
            "52:54:00:ab:cd:ef"
        );
        assert_eq!(
            format_mac(&parse_mac("2-54-0-ab-cd-e").unwrap()),
            "02:54:00:ab:cd:0e"
        );
        assert_eq!(parse_mac("zz"), None);
        assert_eq!(parse_mac("52:54:00:ab:cd:ef:01"), None);
        assert_eq!(generate_mac()[..3], [0x52, 0x54, 0x00]);
    }

    #[test]
    fn disk_indexes() {
        assert_eq!(disk_index("vda"), Some(0));
        assert_eq!(disk_index("hdd"), Some(3));
        assert_eq!(disk_index("sdaa"), Some(26));
        assert_eq!(disk_index("xvdb1"), Some(1));
        assert_eq!(disk_index("xyz"), None);
        assert_eq!(disk_index("sdfxshrxx"), Some(2_147_483_647));
        assert_eq!(disk_index("sdfxshrxy"), None, "beyond libvirt's int");
        assert_eq!(disk_index("sdparallelb"), None);
        assert_eq!(disk_index("vda1x"), None);
    }
}
