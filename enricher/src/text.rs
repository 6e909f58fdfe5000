//! Which characters a reader cannot see: the one classification the issue
//! renderer (shown as `<U+XXXX>`) and the SQL builders (refused) share.

/// Characters shown as `<U+XXXX>` instead of themselves, and refused in SQL
/// text: C0/C1 controls, the Unicode format characters (Cf: bidi embeddings,
/// overrides, isolates and marks, zero-width spaces and joiners, soft hyphen,
/// BOM, tags, ...), line and paragraph separators, non-characters and the
/// invisible fillers that pass as letters.
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c as u32,
            0x00AD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180B..=0x180F
            | 0x0600..=0x0605 | 0x06DD | 0x070F | 0x0890..=0x0891 | 0x08E2
            | 0x200B..=0x200F | 0x2028..=0x202E | 0x2060..=0x206F | 0x3164
            | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFFB | 0xFFFE | 0xFFFF
            | 0x110BD | 0x110CD | 0x13430..=0x1343F | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A
            | 0xE0000..=0xE0FFF)
}
