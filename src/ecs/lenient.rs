//! Field-level tolerance for odd payloads: a field of the wrong type becomes "absent".
//!
//! Real captures carry `"None"` strings where lists belong (Fargate Windows), `"network": {}`
//! instead of `networks`, floats where integers belong. Each optional field is read through
//! [`lenient`]: a value that does not fit its type is skipped (consumed, never buffered) and
//! the field is `None`, so a bad field drops only the series it feeds, never the container
//! or the run. Everything streams from the body: no intermediate `serde_json::Value`.
//!
//! Some values serde_json refuses before any visitor sees them (a number past f64 such as
//! `1e400`, a duplicated key), failing the whole body. Containers are therefore read [`alone`]:
//! each one's raw text (a borrowed slice of the body) is parsed on its own, so such a value
//! drops that container only. That reads each container twice, so [`parse_object`] first
//! reads the body in one pass and falls back to reading each container alone only when the
//! one pass fails.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{
    self, Deserialize, DeserializeOwned, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::value::RawValue;

/// A type that can be read leniently: `Ok(None)` for any JSON value of the wrong shape.
pub trait Lenient: Sized {
    /// In a list, skip an element of the wrong shape (objects: one bad container, one bad
    /// blkio entry) rather than dropping the whole list (numbers: a per-CPU list with a hole
    /// would misplace every later CPU).
    const SKIP_BAD_ELEMENTS: bool = false;

    fn lenient<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Self>, D::Error>;
}

/// `#[serde(default, deserialize_with = "lenient")]` on an `Option<T>` field.
pub fn lenient<'de, D: Deserializer<'de>, T: Lenient>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    T::lenient(deserializer)
}

/// One element or map value read leniently.
pub struct Maybe<T>(pub Option<T>);

impl<'de, T: Lenient> Deserialize<'de> for Maybe<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::lenient(deserializer).map(Maybe)
    }
}

/// Any JSON scalar, or "something else" (consumed).
enum Scalar {
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Text(String),
    Other,
}

/// Returns `Ok(None)`-like "other" results for the JSON kinds a visitor does not want.
macro_rules! other_scalars {
    ($other:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($other)
        }
    };
}

macro_rules! other_numbers_and_text {
    ($other:expr) => {
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($other)
        }
    };
}

fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar::Unsigned(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::Signed(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
        Ok(Scalar::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Text(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar::Text(v))
    }
    other_scalars!(Scalar::Other);
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Scalar, A::Error> {
        skip_seq(seq).map(|()| Scalar::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Scalar, A::Error> {
        skip_map(map).map(|()| Scalar::Other)
    }
}

/// 2^64 as f64: integral floats below it fit a u64.
const U64_LIMIT: f64 = 18_446_744_073_709_551_616.0;

impl Lenient for u64 {
    fn lenient<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
        Ok(match deserializer.deserialize_any(ScalarVisitor)? {
            Scalar::Unsigned(v) => Some(v),
            Scalar::Signed(v) => u64::try_from(v).ok(),
            // Some serializers write integers as floats (`512.0`, `9.2233720368547758e18`).
            Scalar::Float(v) if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v < U64_LIMIT => {
                Some(v as u64)
            }
            _ => None,
        })
    }
}

impl Lenient for f64 {
    fn lenient<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
        Ok(match deserializer.deserialize_any(ScalarVisitor)? {
            Scalar::Unsigned(v) => Some(v as f64),
            Scalar::Signed(v) => Some(v as f64),
            Scalar::Float(v) => Some(v),
            _ => None,
        })
    }
}

impl Lenient for String {
    fn lenient<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
        Ok(match deserializer.deserialize_any(ScalarVisitor)? {
            Scalar::Text(v) => Some(v),
            _ => None,
        })
    }
}

struct SeqVisitor<T>(PhantomData<T>);

impl<'de, T: Lenient> Visitor<'de> for SeqVisitor<T> {
    type Value = Option<Vec<T>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list")
    }
    other_scalars!(None);
    other_numbers_and_text!(None);
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // serde_json gives no size hint; 16 holds a blkio list or a small host's per-CPU
        // list without growing it four times.
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(16).min(64));
        let mut whole = true;
        while let Some(Maybe(item)) = seq.next_element::<Maybe<T>>()? {
            match item {
                Some(item) => items.push(item),
                None => whole = false,
            }
        }
        Ok((whole || T::SKIP_BAD_ELEMENTS).then_some(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        skip_map(map).map(|()| None)
    }
}

impl<T: Lenient> Lenient for Vec<T> {
    fn lenient<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<T>>, D::Error> {
        deserializer.deserialize_any(SeqVisitor(PhantomData))
    }
}

/// A JSON object as a map; entries whose value has the wrong shape are left out.
struct MapVisitor<M, T>(PhantomData<(M, T)>);

impl<'de, M: Default + Extend<(String, T)>, T: Lenient> Visitor<'de> for MapVisitor<M, T> {
    type Value = Option<M>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }
    other_scalars!(None);
    other_numbers_and_text!(None);
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        skip_seq(seq).map(|()| None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = M::default();
        while let Some((key, Maybe(value))) = map.next_entry::<String, Maybe<T>>()? {
            if let Some(value) = value {
                out.extend([(key, value)]);
            }
        }
        Ok(Some(out))
    }
}

impl<T: Lenient> Lenient for BTreeMap<String, T> {
    fn lenient<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Self>, D::Error> {
        deserializer.deserialize_any(MapVisitor::<Self, T>(PhantomData))
    }
}

/// A JSON object read as the struct `T` (whose own fields are lenient); anything else `None`.
struct StructVisitor<T>(PhantomData<T>);

impl<'de, T: DeserializeOwned> Visitor<'de> for StructVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }
    other_scalars!(None);
    other_numbers_and_text!(None);
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        skip_seq(seq).map(|()| None)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(Some)
    }
}

/// Read `T` from an object only (never from an array, which serde's derive would accept
/// field by field).
pub fn object<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    deserializer.deserialize_any(StructVisitor(PhantomData))
}

/// A string-valued `T` (its own `Deserialize` reads a `&str` without allocating); any other
/// JSON value is `None`.
pub fn scalar_or_none<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    struct StrVisitor<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for StrVisitor<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            T::deserialize(de::value::StrDeserializer::<E>::new(v)).map(Some)
        }
        other_scalars!(None);
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            skip_seq(seq).map(|()| None)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            skip_map(map).map(|()| None)
        }
    }
    deserializer.deserialize_any(StrVisitor(PhantomData))
}

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

/// The payload mirror: declares structs whose fields are all `Option`s read leniently.
///
/// Each field gets `#[serde(default, deserialize_with = "lenient", skip_serializing_if =
/// "Option::is_none")]`, each struct the usual derives and an `impl Lenient` (read from an
/// object only; a bad one in a list is skipped). Attributes written on a struct or field
/// (docs, `rename`, `rename_all`) are kept. `field: Option<T> as "path"` reads that field with
/// another `deserialize_with` function instead of [`lenient`].
macro_rules! payload {
    ($(
        $(#[$struct_attr:meta])*
        pub struct $name:ident {
            $(
                $(#[$field_attr:meta])*
                pub $field:ident: $ty:ty $(as $reader:literal)?
            ),* $(,)?
        }
    )*) => {
        $crate::ecs::lenient::payload!(@emit $(
            $(#[$struct_attr])*
            pub struct $name {
                // The reader given with `as` comes first, so `@emit` picks it over the default.
                $($(#[$field_attr])* pub $field: $ty [$($reader)? "crate::ecs::lenient::lenient"],)*
            }
        )*);
    };
    (@emit $(
        $(#[$struct_attr:meta])*
        pub struct $name:ident {
            $(
                $(#[$field_attr:meta])*
                pub $field:ident: $ty:ty [$reader:literal $($default:literal)?],
            )*
        }
    )*) => {
        $(
            #[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
            $(#[$struct_attr])*
            pub struct $name {
                $(
                    $(#[$field_attr])*
                    #[serde(
                        default,
                        deserialize_with = $reader,
                        skip_serializing_if = "Option::is_none"
                    )]
                    pub $field: $ty,
                )*
            }

            impl $crate::ecs::lenient::Lenient for $name {
                const SKIP_BAD_ELEMENTS: bool = true;

                fn lenient<'de, D: serde::Deserializer<'de>>(
                    deserializer: D,
                ) -> Result<Option<Self>, D::Error> {
                    $crate::ecs::lenient::object(deserializer)
                }
            }
        )*
    };
}
pub(crate) use payload;

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq, Default)]
    struct Sample {
        #[serde(default, deserialize_with = "lenient")]
        n: Option<u64>,
        #[serde(default, deserialize_with = "lenient")]
        list: Option<Vec<u64>>,
        #[serde(default, deserialize_with = "lenient")]
        map: Option<BTreeMap<String, u64>>,
        #[serde(default, deserialize_with = "lenient")]
        text: Option<String>,
    }

    fn parse(json: &str) -> Sample {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn wrong_shapes_become_none_without_failing_the_parse() {
        let s = parse(
            r#"{"n": "None", "list": "None", "map": [1], "text": 5, "extra": {"deep": [1, {"x": null}]}}"#,
        );
        assert_eq!(s, Sample::default());
        let s = parse(
            r#"{"n": 512.0, "list": [1, 2], "map": {"a": 1, "b": "x", "c": -1}, "text": "t"}"#,
        );
        assert_eq!(s.n, Some(512));
        assert_eq!(s.list, Some(vec![1, 2]));
        assert_eq!(s.map, Some(BTreeMap::from([("a".to_string(), 1)])));
        assert_eq!(s.text.as_deref(), Some("t"));
        // A number list with a hole is dropped whole: CPU indexes must not shift.
        assert_eq!(parse(r#"{"list": [1, "x", 3]}"#).list, None);
        // Negative, fractional, too large: not a u64.
        for bad in ["-1", "0.5", "1e300", "18446744073709551616"] {
            assert_eq!(parse(&format!(r#"{{"n": {bad}}}"#)).n, None, "{bad}");
        }
        assert_eq!(parse(r#"{"n": 18446744073709551615}"#).n, Some(u64::MAX));
    }
}
