//! The typed targets of the typed benchmarks (`benches/decode.rs`, `typed/` groups,
//! and `examples/bench_typed.rs`): what a program reading these files would declare.

use std::collections::HashMap;

use serde::Deserialize;
use serde_bytes::ByteBuf;

/// `json_doc.pkl`: a paginated API dump (see `gen_inputs.py`, `json_doc`).
#[derive(Clone, Deserialize)]
#[allow(dead_code)]
pub struct Doc {
    meta: Meta,
    data: Vec<Record>,
}

#[derive(Clone, Deserialize)]
#[allow(dead_code)]
struct Meta {
    version: String,
    generated: String,
    count: u64,
    source: Source,
}

#[derive(Clone, Deserialize)]
#[allow(dead_code)]
struct Source {
    name: String,
    page: u32,
    per_page: u64,
    next: Option<String>,
}

#[derive(Clone, Deserialize)]
#[allow(dead_code)]
struct Record {
    id: u64,
    uuid: String,
    name: String,
    email: String,
    active: bool,
    age: u32,
    score: f64,
    balance: f64,
    created: String,
    parent: Option<u64>,
    tags: Vec<String>,
    address: Address,
    friends: Vec<Friend>,
    about: String,
    metrics: Vec<f64>,
    flags: Flags,
}

#[derive(Clone, Deserialize)]
#[allow(dead_code)]
struct Address {
    street: String,
    city: String,
    zip: String,
    geo: Geo,
}

#[derive(Clone, Deserialize)]
#[allow(dead_code)]
struct Geo {
    lat: f64,
    lng: f64,
}

#[derive(Clone, Deserialize)]
#[allow(dead_code)]
struct Friend {
    id: u64,
    name: String,
}

#[derive(Clone, Deserialize)]
#[allow(dead_code)]
struct Flags {
    verified: bool,
    admin: bool,
    deleted: Option<bool>,
}

pub type Ints = Vec<i64>;
pub type StrFloat = HashMap<String, f64>;
pub type Bytes = Vec<ByteBuf>;
