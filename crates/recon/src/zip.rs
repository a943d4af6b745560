//! The zip archives Alipay serves its bills in: read through the central directory (stored or
//! DEFLATE members, each checked against its CRC-32), and written (DEFLATE) for the channel
//! simulator and the tests. No ZIP64, no encryption, no multi-disk archives: a bill is none
//! of these.

use crate::gzip::crc32;

const LOCAL: u32 = 0x0403_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const END: u32 = 0x0605_4b50;
/// A member's name is UTF-8 (general purpose flag bit 11).
const UTF8_NAME: u16 = 1 << 11;
/// No member of a bill is anywhere near this; a larger one is refused rather than inflated.
const MEMBER_BYTES_MAX: usize = 4 << 30;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Every member of the archive: (name, contents), in the central directory's order.
pub fn read(archive: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let damaged = |what: &str| format!("the zip archive is damaged: {what}");
    // The end record is in the last 64 KiB + 22 bytes (its comment is at most 64 KiB).
    let from = archive.len().saturating_sub(22 + 65_535);
    let end = (from..archive.len().saturating_sub(21))
        .rev()
        .find(|&at| u32_at(archive, at) == Some(END))
        .ok_or_else(|| "not a zip archive".to_string())?;
    let count = usize::from(u16_at(archive, end + 10).ok_or_else(|| damaged("end record"))?);
    let mut at = u32_at(archive, end + 16).ok_or_else(|| damaged("end record"))? as usize;
    let mut members = Vec::with_capacity(count);
    for _ in 0..count {
        if u32_at(archive, at) != Some(CENTRAL) {
            return Err(damaged("central directory"));
        }
        let field =
            |off: usize| u16_at(archive, at + off).ok_or_else(|| damaged("central directory"));
        let word =
            |off: usize| u32_at(archive, at + off).ok_or_else(|| damaged("central directory"));
        let (method, crc, packed, size) = (
            field(10)?,
            word(16)?,
            word(20)? as usize,
            word(24)? as usize,
        );
        let (name_len, extra_len, comment_len) = (
            usize::from(field(28)?),
            usize::from(field(30)?),
            usize::from(field(32)?),
        );
        let local = word(42)? as usize;
        let name = archive
            .get(at + 46..at + 46 + name_len)
            .ok_or_else(|| damaged("a member's name"))?;
        // Names that are not flagged UTF-8 are GBK in archives made on Chinese systems; only
        // the contents matter here, so a name is kept as well as it reads.
        let name = String::from_utf8_lossy(name).into_owned();
        at += 46 + name_len + extra_len + comment_len;

        if u32_at(archive, local) != Some(LOCAL) {
            return Err(damaged("a member's header"));
        }
        let data = local
            + 30
            + usize::from(u16_at(archive, local + 26).ok_or_else(|| damaged("a member's header"))?)
            + usize::from(u16_at(archive, local + 28).ok_or_else(|| damaged("a member's header"))?);
        let body = archive
            .get(data..data + packed)
            .ok_or_else(|| damaged(&format!("{name} is cut short")))?;
        if size > MEMBER_BYTES_MAX {
            return Err(format!("{name} is too large ({size} bytes)"));
        }
        let contents = match method {
            0 => body.to_vec(),
            8 => miniz_oxide::inflate::decompress_to_vec_with_limit(body, size.max(1))
                .map_err(|e| damaged(&format!("{name} does not inflate: {e:?}")))?,
            other => {
                return Err(format!(
                    "{name} is compressed with method {other}, not stored or DEFLATE"
                ))
            }
        };
        if contents.len() != size || crc32(&contents) != crc {
            return Err(damaged(&format!("{name} does not match its checksum")));
        }
        members.push((name, contents));
    }
    Ok(members)
}

/// An archive of these members, each DEFLATE-compressed, names flagged UTF-8.
pub fn write(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, contents) in members {
        let packed = miniz_oxide::deflate::compress_to_vec(contents, 6);
        let crc = crc32(contents);
        let offset = out.len() as u32;
        let common = |v: &mut Vec<u8>| {
            v.extend(20u16.to_le_bytes()); // version needed: 2.0
            v.extend(UTF8_NAME.to_le_bytes());
            v.extend(8u16.to_le_bytes()); // DEFLATE
            v.extend(0u16.to_le_bytes()); // time
            v.extend(0x21u16.to_le_bytes()); // date: 1980-01-01
            v.extend(crc.to_le_bytes());
            v.extend((packed.len() as u32).to_le_bytes());
            v.extend((contents.len() as u32).to_le_bytes());
            v.extend((name.len() as u16).to_le_bytes());
            v.extend(0u16.to_le_bytes()); // extra
        };
        out.extend(LOCAL.to_le_bytes());
        common(&mut out);
        out.extend(name.as_bytes());
        out.extend(&packed);
        central.extend(CENTRAL.to_le_bytes());
        central.extend(20u16.to_le_bytes()); // made by
        common(&mut central);
        central.extend(0u16.to_le_bytes()); // comment
        central.extend(0u16.to_le_bytes()); // disk
        central.extend(0u16.to_le_bytes()); // internal attributes
        central.extend(0u32.to_le_bytes()); // external attributes
        central.extend(offset.to_le_bytes());
        central.extend(name.as_bytes());
    }
    let central_at = out.len() as u32;
    out.extend(&central);
    out.extend(END.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out.extend((members.len() as u16).to_le_bytes());
    out.extend((members.len() as u16).to_le_bytes());
    out.extend((central.len() as u32).to_le_bytes());
    out.extend(central_at.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_round_trip_and_damage_is_named() {
        let detail = "支付宝交易号,商户订单号\n".repeat(40);
        let archive = write(&[("detail.csv", detail.as_bytes()), ("summary.csv", b"x")]);
        let members = read(&archive).expect("reads");
        assert_eq!(members.len(), 2);
        assert_eq!(members[0], ("detail.csv".to_string(), detail.into_bytes()));
        assert_eq!(members[1].1, b"x");
        let mut damaged = archive.clone();
        damaged[40] ^= 0xff;
        assert!(read(&damaged).is_err());
        assert!(read(&archive[..archive.len() - 30]).is_err());
        assert_eq!(read(b"not a zip").unwrap_err(), "not a zip archive");
    }
}
