//! A whole body, read once in place, or, when serde_json refuses a value in it (`1e400`, a
//! duplicated key), with each container read alone from its raw text so that value drops
//! only its container (see the parent module).

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::{Lenient, Maybe, skip_map};

/// Read `raw` (one container's value) on its own: a value serde_json refuses outright (a
/// number past f64 such as `1e400`, a duplicated key) drops only this value, with a warning
/// naming `what`, instead of failing the whole body. `None` also for a value of the wrong shape.
pub fn alone<T: Lenient>(raw: &RawValue, what: &dyn fmt::Display) -> Option<T> {
    match serde_json::from_str::<Maybe<T>>(raw.get()) {
        Ok(Maybe(value)) => value,
        Err(e) => {
            log::warn!("{what} cannot be read ({e}); it is skipped");
            None
        }
    }
}

thread_local! {
    /// Set during the first pass of [`parse_object`]: values meant to be read [`alone`] are
    /// read in place instead, so the body is read once, not twice (raw text, then again).
    static IN_PLACE: Cell<bool> = const { Cell::new(false) };
}

/// Runs `read` with [`IN_PLACE`] set, clearing it again even if `read` unwinds.
fn in_place<R>(read: impl FnOnce() -> R) -> R {
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            IN_PLACE.with(|flag| flag.set(false));
        }
    }
    IN_PLACE.with(|flag| flag.set(true));
    let _clear = Clear;
    read()
}

/// The next map value read [`alone`] (`Ok(None)` when it cannot be read or has the wrong
/// shape), or in place during the first pass of [`parse_object`].
pub fn next_value_alone<'de, A: MapAccess<'de>, T: Lenient>(
    map: &mut A,
    what: &dyn fmt::Display,
) -> Result<Option<T>, A::Error> {
    if IN_PLACE.with(Cell::get) {
        return map.next_value::<Maybe<T>>().map(|Maybe(value)| value);
    }
    map.next_value::<&'de RawValue>()
        .map(|raw| alone(raw, what))
}

/// `deserialize_with` for a list of containers: each element is read [`alone`], so one that
/// cannot be read is left out and the others stay. Any other JSON value is `None`.
pub fn each_alone<'de, D: Deserializer<'de>, T: Lenient>(
    deserializer: D,
) -> Result<Option<Vec<T>>, D::Error> {
    struct EachVisitor<T>(PhantomData<T>);
    impl<'de, T: Lenient> Visitor<'de> for EachVisitor<T> {
        type Value = Option<Vec<T>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list")
        }
        other_scalars!(None);
        other_numbers_and_text!(None);
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut items = Vec::new();
            if IN_PLACE.with(Cell::get) {
                while let Some(Maybe(item)) = seq.next_element::<Maybe<T>>()? {
                    items.extend(item);
                }
                return Ok(Some(items));
            }
            let mut index = 0;
            while let Some(raw) = seq.next_element::<&'de RawValue>()? {
                items.extend(alone(
                    raw,
                    &format_args!("the metadata of container #{index}"),
                ));
                index += 1;
            }
            Ok(Some(items))
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            skip_map(map).map(|()| None)
        }
    }
    deserializer.deserialize_any(EachVisitor(PhantomData))
}

/// The whole body as the object `T`; any other JSON value is an error naming what it was.
struct TopVisitor<T>(&'static str, PhantomData<T>);

impl<'de, T: DeserializeOwned> Visitor<'de> for TopVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a JSON object {}", self.0)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map))
    }
}

/// Parse a body that must be a JSON object: `what` says what it should hold.
///
/// A first pass reads the body once, every value in place. When it succeeds, its result is
/// the one the second pass would give: the same visitors over the same text, and nothing the
/// second pass refuses (bytes that are not UTF-8, a value serde_json refuses) gets through
/// it. When it fails (a container serde_json refuses, any error), the second pass reads each
/// container alone and decides the result, its warnings and its error. A normal body is
/// thus read once instead of twice.
pub fn parse_object<T: DeserializeOwned>(body: &[u8], what: &'static str) -> Result<T, String> {
    // The second pass refuses bytes that are not UTF-8 inside a container (its raw text must
    // be a `str`), so the first pass takes UTF-8 only. Checked once here, it is not checked
    // again string by string: a `str` reader skips that.
    if let Ok(text) = std::str::from_utf8(body)
        && let Ok(value) = in_place(|| parse_body(serde_json::Deserializer::from_str(text), what))
    {
        return Ok(value);
    }
    parse_body(serde_json::Deserializer::from_slice(body), what)
}

/// [`parse_object`]'s second pass on its own (every container read alone): tests check that
/// the first pass agrees with it.
#[cfg(test)]
pub(crate) fn parse_object_each_alone<T: DeserializeOwned>(
    body: &[u8],
    what: &'static str,
) -> Result<T, String> {
    parse_body(serde_json::Deserializer::from_slice(body), what)
}

/// [`parse_object`]'s first pass on its own.
#[cfg(test)]
pub(crate) fn parse_object_in_place<T: DeserializeOwned>(
    body: &[u8],
    what: &'static str,
) -> Result<T, String> {
    let text = std::str::from_utf8(body).map_err(|e| e.to_string())?;
    in_place(|| parse_body(serde_json::Deserializer::from_str(text), what))
}

fn parse_body<'de, R: serde_json::de::Read<'de>, T: DeserializeOwned>(
    mut de: serde_json::Deserializer<R>,
    what: &'static str,
) -> Result<T, String> {
    let parsed = de
        .deserialize_any(TopVisitor::<T>(what, PhantomData))
        .and_then(|value| de.end().map(|()| value));
    parsed.map_err(|e| match e.classify() {
        serde_json::error::Category::Data => format!("unexpected shape: {e}"),
        _ => format!("invalid JSON: {e}"),
    })
}
