//! What PNG output needs besides the drawing: the bundled font, registered
//! with plotters' `ab_glyph` text renderer once per process, and the PNG
//! encoding of the RGB bitmap plotters draws into.

use std::sync::Once;

/// DejaVu Sans cut down to 375 characters (see `assets/fonts/README.md`
/// for which, how and its licence).
const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-subset.ttf");

/// The font families the charts ask for; each gets the bundled font.
const FAMILIES: [&str; 3] = ["sans-serif", "serif", "monospace"];

/// Registers the bundled font for every family the charts use, the first
/// time it is called (text in any family or style falls back to it).
///
/// # Panics
/// If the bundled font does not parse, which a test rules out.
pub(super) fn register_font() {
    static REGISTERED: Once = Once::new();
    REGISTERED.call_once(|| {
        for family in FAMILIES {
            let registered =
                plotters::style::register_font(family, plotters::style::FontStyle::Normal, FONT);
            assert!(
                registered.is_ok(),
                "plot: the bundled font does not parse as TrueType"
            );
        }
    });
}

/// Encodes `w x h` pixels of 8-bit RGB (rows top to bottom) as a PNG file.
///
/// # Errors
/// The encoder's message (only if `pixels` is not `w * h * 3` bytes).
pub(super) fn encode_png(pixels: &[u8], w: u32, h: u32) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, w, h);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
        writer.write_image_data(pixels).map_err(|e| e.to_string())?;
        writer.finish().map_err(|e| e.to_string())?;
    }
    Ok(out)
}
