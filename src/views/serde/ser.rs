//! The [`Serializer`]: serde's data model into a graph, which [`crate::encode`] writes
//! as a pickle. The mapping is in the module docs of [`crate::serde`].
//!
//! Building a graph first (instead of writing opcodes directly) reuses the encoder's
//! exact CPython output for every protocol, framing and memo included; the graph has
//! no sharing, so it is as large as the value and no larger.

use std::borrow::Cow;

use ::serde::ser::{self, Serialize};

use super::error::{Error, ErrorKind};
use crate::bigint::{BigInt, IntValue};
use crate::graph::{Graph, NodeData, NodeId};

/// Serializes `value` into a new graph and returns it with the id of its root: the
/// graph that [`to_vec`](super::to_vec) encodes.
pub fn to_graph<T: Serialize + ?Sized>(value: &T) -> Result<(Graph<'static>, NodeId), Error> {
    let mut serializer = Serializer::new();
    let root = value.serialize(&mut serializer)?;
    Ok((serializer.into_graph(), root))
}

/// A serde `Serializer` that adds each value to a [`Graph`] and returns its id.
#[derive(Debug, Default)]
pub struct Serializer {
    graph: Graph<'static>,
}

impl Serializer {
    /// A serializer with an empty graph.
    pub fn new() -> Serializer {
        Serializer::default()
    }

    /// The graph built so far.
    pub fn into_graph(self) -> Graph<'static> {
        self.graph
    }

    fn add(&mut self, node: NodeData<'static>) -> Result<NodeId, Error> {
        self.graph
            .add(node)
            .ok_or_else(|| Error::new(ErrorKind::TooLarge))
    }

    fn int(&mut self, v: i64) -> Result<NodeId, Error> {
        match NodeId::int(v) {
            Some(id) => Ok(id),
            None => self.add(NodeData::Int(v)),
        }
    }

    fn wide(&mut self, negative: bool, magnitude: u128) -> Result<NodeId, Error> {
        let limbs = [0u32, 32, 64, 96]
            .iter()
            .map(|shift| magnitude.checked_shr(*shift).unwrap_or(0) as u32)
            .collect::<Vec<u32>>();
        match BigInt::from_parts(negative, limbs) {
            IntValue::Small(v) => self.int(v),
            IntValue::Big(b) => self.add(NodeData::BigInt(Box::new(b))),
        }
    }

    fn str(&mut self, s: &str) -> Result<NodeId, Error> {
        self.add(NodeData::Str(Cow::Owned(s.as_bytes().to_vec())))
    }

    /// `{variant: value}`, the form of every variant but unit ones.
    fn tagged(&mut self, variant: &'static str, value: NodeId) -> Result<NodeId, Error> {
        let key = self.str(variant)?;
        self.add(NodeData::Dict(vec![(key, value)]))
    }

    /// Makes the key `key` hashable in Python: its lists (and those of tuples inside
    /// it) become tuples; a dict inside it is an error. Walks only the key's own
    /// nodes, which nothing else shares, without recursion.
    fn hashable(&mut self, key: NodeId) -> Result<(), Error> {
        let mut todo = vec![key];
        while let Some(id) = todo.pop() {
            let Some(node) = self.graph.get_mut(id) else {
                continue; // an int or float: hashable
            };
            match node {
                NodeData::List(items) => {
                    let items = std::mem::take(items);
                    todo.extend(items.iter().copied());
                    *node = NodeData::Tuple(items);
                }
                NodeData::Tuple(items) => todo.extend(items.iter().copied()),
                NodeData::Dict(_) => return Err(Error::new(ErrorKind::UnhashableKey("dict"))),
                _ => {}
            }
        }
        Ok(())
    }
}

impl<'a> ser::Serializer for &'a mut Serializer {
    type Ok = NodeId;
    type Error = Error;
    type SerializeSeq = Items<'a>;
    type SerializeTuple = Items<'a>;
    type SerializeTupleStruct = Items<'a>;
    type SerializeTupleVariant = Items<'a>;
    type SerializeMap = Entries<'a>;
    type SerializeStruct = Entries<'a>;
    type SerializeStructVariant = Entries<'a>;

    fn serialize_bool(self, v: bool) -> Result<NodeId, Error> {
        self.add(NodeData::Bool(v))
    }

    fn serialize_i8(self, v: i8) -> Result<NodeId, Error> {
        self.int(i64::from(v))
    }

    fn serialize_i16(self, v: i16) -> Result<NodeId, Error> {
        self.int(i64::from(v))
    }

    fn serialize_i32(self, v: i32) -> Result<NodeId, Error> {
        self.int(i64::from(v))
    }

    fn serialize_i64(self, v: i64) -> Result<NodeId, Error> {
        self.int(v)
    }

    fn serialize_i128(self, v: i128) -> Result<NodeId, Error> {
        self.wide(v < 0, v.unsigned_abs())
    }

    fn serialize_u8(self, v: u8) -> Result<NodeId, Error> {
        self.int(i64::from(v))
    }

    fn serialize_u16(self, v: u16) -> Result<NodeId, Error> {
        self.int(i64::from(v))
    }

    fn serialize_u32(self, v: u32) -> Result<NodeId, Error> {
        self.int(i64::from(v))
    }

    fn serialize_u64(self, v: u64) -> Result<NodeId, Error> {
        self.wide(false, u128::from(v))
    }

    fn serialize_u128(self, v: u128) -> Result<NodeId, Error> {
        self.wide(false, v)
    }

    fn serialize_f32(self, v: f32) -> Result<NodeId, Error> {
        self.add(NodeData::Float(f64::from(v)))
    }

    fn serialize_f64(self, v: f64) -> Result<NodeId, Error> {
        self.add(NodeData::Float(v))
    }

    fn serialize_char(self, v: char) -> Result<NodeId, Error> {
        self.str(v.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, v: &str) -> Result<NodeId, Error> {
        self.str(v)
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<NodeId, Error> {
        self.add(NodeData::Bytes(Cow::Owned(v.to_vec())))
    }

    fn serialize_none(self) -> Result<NodeId, Error> {
        self.add(NodeData::None)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<NodeId, Error> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<NodeId, Error> {
        self.add(NodeData::None)
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<NodeId, Error> {
        self.add(NodeData::None)
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<NodeId, Error> {
        self.str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<NodeId, Error> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<NodeId, Error> {
        let value = value.serialize(&mut *self)?;
        self.tagged(variant, value)
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Items<'a>, Error> {
        Ok(Items::new(self, false, None))
    }

    fn serialize_tuple(self, _len: usize) -> Result<Items<'a>, Error> {
        Ok(Items::new(self, true, None))
    }

    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Items<'a>, Error> {
        Ok(Items::new(self, true, None))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Items<'a>, Error> {
        Ok(Items::new(self, false, Some(variant)))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Entries<'a>, Error> {
        Ok(Entries::new(self, None))
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Entries<'a>, Error> {
        Ok(Entries::new(self, None))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Entries<'a>, Error> {
        Ok(Entries::new(self, Some(variant)))
    }
}

/// A list or tuple being serialized (a tuple variant's list, then its `{variant: ..}`).
pub struct Items<'a> {
    serializer: &'a mut Serializer,
    items: Vec<NodeId>,
    tuple: bool,
    variant: Option<&'static str>,
}

impl<'a> Items<'a> {
    fn new(
        serializer: &'a mut Serializer,
        tuple: bool,
        variant: Option<&'static str>,
    ) -> Items<'a> {
        Items {
            serializer,
            items: Vec::new(),
            tuple,
            variant,
        }
    }

    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let id = value.serialize(&mut *self.serializer)?;
        self.items.push(id);
        Ok(())
    }

    fn finish(self) -> Result<NodeId, Error> {
        let node = if self.tuple {
            NodeData::Tuple(self.items)
        } else {
            NodeData::List(self.items)
        };
        let id = self.serializer.add(node)?;
        match self.variant {
            Some(variant) => self.serializer.tagged(variant, id),
            None => Ok(id),
        }
    }
}

macro_rules! items_impl {
    ($($trait:ident, $method:ident;)*) => {$(
        impl ser::$trait for Items<'_> {
            type Ok = NodeId;
            type Error = Error;

            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                self.push(value)
            }

            fn end(self) -> Result<NodeId, Error> {
                self.finish()
            }
        }
    )*};
}

items_impl! {
    SerializeSeq, serialize_element;
    SerializeTuple, serialize_element;
    SerializeTupleStruct, serialize_field;
    SerializeTupleVariant, serialize_field;
}

/// A dict being serialized (a struct variant's dict, then its `{variant: ..}`).
pub struct Entries<'a> {
    serializer: &'a mut Serializer,
    pairs: Vec<(NodeId, NodeId)>,
    key: Option<NodeId>,
    variant: Option<&'static str>,
}

impl<'a> Entries<'a> {
    fn new(serializer: &'a mut Serializer, variant: Option<&'static str>) -> Entries<'a> {
        Entries {
            serializer,
            pairs: Vec::new(),
            key: None,
            variant,
        }
    }

    fn finish(self) -> Result<NodeId, Error> {
        let id = self.serializer.add(NodeData::Dict(self.pairs))?;
        match self.variant {
            Some(variant) => self.serializer.tagged(variant, id),
            None => Ok(id),
        }
    }

    fn field<T: Serialize + ?Sized>(&mut self, name: &'static str, value: &T) -> Result<(), Error> {
        let key = self.serializer.str(name)?;
        let value = value.serialize(&mut *self.serializer)?;
        self.pairs.push((key, value));
        Ok(())
    }
}

impl ser::SerializeMap for Entries<'_> {
    type Ok = NodeId;
    type Error = Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        let key = key.serialize(&mut *self.serializer)?;
        self.serializer.hashable(key)?;
        self.key = Some(key);
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let Some(key) = self.key.take() else {
            return Err(ser::Error::custom(
                "serialize_value called before serialize_key",
            ));
        };
        let value = value.serialize(&mut *self.serializer)?;
        self.pairs.push((key, value));
        Ok(())
    }

    fn end(self) -> Result<NodeId, Error> {
        self.finish()
    }
}

impl ser::SerializeStruct for Entries<'_> {
    type Ok = NodeId;
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.field(name, value)
    }

    fn end(self) -> Result<NodeId, Error> {
        self.finish()
    }
}

impl ser::SerializeStructVariant for Entries<'_> {
    type Ok = NodeId;
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.field(name, value)
    }

    fn end(self) -> Result<NodeId, Error> {
        self.finish()
    }
}
