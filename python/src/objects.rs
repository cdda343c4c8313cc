//! Python objects from a decoded graph: what `pickle.loads` would have built, made
//! only after the whole stream passed the decoder's budgets and policy.
//!
//! # Order
//!
//! The graph is the stream's *result*, not its history, so the builder rebuilds an
//! order that matches the one Python's pickler writes: a depth-first walk from the
//! root in which a value is complete (created, then filled) before the value that
//! holds it is. Lists, dicts, sets and bytearrays are created empty when first
//! reached, so a cycle through them closes as in the stream; a tuple, a frozenset or
//! a call is created once its parts exist; an object gets its items, then its BUILD
//! states, after everything they hold is complete. Where a cycle makes a value wait
//! for one that does not exist yet (a tuple holding a list that holds the tuple; a
//! dict in an object's state that holds the object), the waiting step runs as soon
//! as that value is created ([`Builder::settle`]).
//!
//! One consequence, documented in the package README: a call sees its arguments
//! complete, even when the stream mutated a list *after* passing it to a call (which
//! Python's pickler writes only for recursive structures); `pickle.loads` would have
//! passed the list as it was at that moment.
//!
//! # What runs
//!
//! Built-in values are made with the C API and call nothing; a built-in
//! reconstructor the decoder left as a call (an argument shape no pickler writes) is
//! refused, not called ([`unfolded`]). A global is imported
//! only when the policy allows it (checked again here, so the builder is safe on its
//! own), with the `pickle.find_class` audit event that `pickle` raises; calls and
//! BUILD follow CPython's `_pickle.c` (`load_reduce`, `load_newobj`, `instantiate`,
//! `load_build`, `do_append`, `do_setitems`, `load_additems`).
//!
//! The walk is iterative: no input shape can exhaust the Rust stack.

use std::collections::{HashMap, VecDeque};

use pickleproof::{CallOp, Graph, Node, NodeId, Object, Policy, RECONSTRUCTORS};
use pyo3::exceptions::{PyAttributeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PySet, PyString,
    PyTuple, PyType,
};

use crate::errors;

/// What the caller of `loads` supplied for the values a stream cannot carry itself.
pub(crate) struct Supplied<'py> {
    /// The policy the decode ran under: every global imported is checked against it.
    pub(crate) policy: Policy,
    /// The stream's protocol: dotted names are walked only from protocol 4, as
    /// CPython's `find_class` does.
    pub(crate) protocol: u8,
    /// `persistent_load=`.
    pub(crate) persistent_load: Option<Bound<'py, PyAny>>,
    /// `buffers=`, in order.
    pub(crate) buffers: Option<Vec<Bound<'py, PyAny>>>,
}

/// The Python object the graph's `root` describes.
pub(crate) fn build<'py>(
    py: Python<'py>,
    graph: &Graph<'_>,
    root: NodeId,
    supplied: &Supplied<'py>,
) -> PyResult<Bound<'py, PyAny>> {
    let mut builder = Builder {
        py,
        graph,
        supplied,
        objects: vec![None; graph.len()],
        visited: vec![false; graph.len()],
        waiting: HashMap::new(),
    };
    builder.walk(root)?;
    if !builder.waiting.is_empty() {
        return Err(unbuildable(py));
    }
    builder.value(root)
}

/// One step of the build that may have to wait for another value.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// Make the value (its parts exist).
    Create(NodeId),
    /// Put the items and states into a container or object (it and they exist).
    Fill(NodeId),
}

/// A node in the walk: the step its children come before, and which child is next
/// (a [`Step::Create`] waits for the value's [`part`]s, a [`Step::Fill`] for its
/// [`content`]).
struct Frame {
    then: Step,
    next: usize,
}

/// Is the step done, or which value must exist first?
enum Progress {
    Done,
    WaitsFor(usize),
}

struct Builder<'g, 'a, 's, 'py> {
    py: Python<'py>,
    graph: &'g Graph<'a>,
    supplied: &'s Supplied<'py>,
    /// The object of each node, by [`Graph::slot`], once created.
    objects: Vec<Option<Bound<'py, PyAny>>>,
    visited: Vec<bool>,
    /// Steps waiting for the node of this slot to be created.
    waiting: HashMap<usize, Vec<Step>>,
}

impl<'py> Builder<'_, '_, '_, 'py> {
    fn node(&self, id: NodeId) -> PyResult<Node<'_>> {
        self.graph.get(id).ok_or_else(|| unbuildable(self.py))
    }

    /// The walk: every node reachable from `root`, each step taken as soon as it can.
    fn walk(&mut self, root: NodeId) -> PyResult<()> {
        let mut stack = Vec::new();
        self.visit(root, &mut stack)?;
        let graph = self.graph;
        while let Some(frame) = stack.last_mut() {
            let (then, next) = (frame.then, frame.next);
            let id = match then {
                Step::Create(id) | Step::Fill(id) => id,
            };
            let node = graph.get(id).ok_or_else(|| unbuildable(self.py))?;
            let child = match then {
                Step::Create(_) => part(node, next),
                Step::Fill(_) => content(node, next),
            };
            if let Some(child) = child {
                frame.next += 1;
                self.visit(child, &mut stack)?;
                continue;
            }
            stack.pop();
            self.settle(then)?;
            // An object is filled (items, then BUILD states) once it exists.
            if matches!(then, Step::Create(_)) && matches!(node, Node::Object(_)) {
                stack.push(Frame {
                    then: Step::Fill(id),
                    next: 0,
                });
            }
        }
        Ok(())
    }

    /// First sight of a node: leaves and empty containers are made now; the rest get
    /// a frame.
    fn visit(&mut self, id: NodeId, stack: &mut Vec<Frame>) -> PyResult<()> {
        let Some(slot) = self.graph.slot(id) else {
            return Ok(()); // an inline int: made when used
        };
        match self.visited.get_mut(slot) {
            Some(seen) if !*seen => *seen = true,
            _ => return Ok(()),
        }
        match self.node(id)? {
            Node::List(_) | Node::Dict(_) | Node::Set(_) => {
                self.settle(Step::Create(id))?;
                stack.push(Frame {
                    then: Step::Fill(id),
                    next: 0,
                });
            }
            Node::Object(object) => {
                // Refused before its callable is even looked up.
                if let Some(Node::Global(global)) = self.graph.get(object.callable) {
                    if RECONSTRUCTORS.contains(&(global.module.as_str(), global.name.as_str())) {
                        return Err(unfolded(self.py, &global.module, &global.name));
                    }
                }
                stack.push(Frame {
                    then: Step::Create(id),
                    next: 0,
                });
            }
            Node::Tuple(_) | Node::FrozenSet(_) | Node::PersId(_) => {
                stack.push(Frame {
                    then: Step::Create(id),
                    next: 0,
                });
            }
            _ => self.settle(Step::Create(id))?,
        }
        Ok(())
    }

    /// Takes `step`, and every step that was waiting for what it creates.
    fn settle(&mut self, step: Step) -> PyResult<()> {
        // The common case, kept free of allocation and hashing: nothing waits.
        if self.waiting.is_empty() {
            let progress = match step {
                Step::Create(id) => self.create(id)?,
                Step::Fill(id) => self.fill(id)?,
            };
            if let Progress::WaitsFor(slot) = progress {
                self.waiting.entry(slot).or_default().push(step);
            }
            return Ok(());
        }
        let mut ready = VecDeque::from([step]);
        while let Some(step) = ready.pop_front() {
            let progress = match step {
                Step::Create(id) => self.create(id)?,
                Step::Fill(id) => self.fill(id)?,
            };
            match (progress, step) {
                (Progress::WaitsFor(slot), _) => self.waiting.entry(slot).or_default().push(step),
                (Progress::Done, Step::Create(id)) => {
                    if let Some(slot) = self.graph.slot(id) {
                        ready.extend(self.waiting.remove(&slot).unwrap_or_default());
                    }
                }
                (Progress::Done, Step::Fill(_)) => {}
            }
        }
        Ok(())
    }

    /// The slot of the first of `ids` not created yet.
    fn missing(&self, ids: impl IntoIterator<Item = NodeId>) -> Option<usize> {
        ids.into_iter().find_map(|id| {
            let slot = self.graph.slot(id)?;
            match self.objects.get(slot) {
                Some(Some(_)) => None,
                _ => Some(slot),
            }
        })
    }

    /// The object of a created node (an inline int is made here).
    fn value(&self, id: NodeId) -> PyResult<Bound<'py, PyAny>> {
        if let Some(int) = id.as_int() {
            return Ok(int.into_pyobject(self.py)?.into_any());
        }
        self.graph
            .slot(id)
            .and_then(|slot| self.objects.get(slot).cloned().flatten())
            .ok_or_else(|| unbuildable(self.py))
    }

    fn values(&self, ids: &[NodeId]) -> PyResult<Vec<Bound<'py, PyAny>>> {
        ids.iter().map(|id| self.value(*id)).collect()
    }

    fn create(&mut self, id: NodeId) -> PyResult<Progress> {
        let Some(slot) = self.graph.slot(id) else {
            return Ok(Progress::Done);
        };
        if matches!(self.objects.get(slot), Some(Some(_))) {
            return Ok(Progress::Done);
        }
        let node = self.node(id)?;
        if let Some(waits) = self.missing(parts(node)) {
            return Ok(Progress::WaitsFor(waits));
        }
        let py = self.py;
        let object = match node {
            Node::None => py.None().into_bound(py),
            Node::Bool(b) => PyBool::new(py, b).to_owned().into_any(),
            Node::Int(i) => i.into_pyobject(py)?.into_any(),
            Node::BigInt(big) => {
                let kwargs = PyDict::new(py);
                kwargs.set_item("signed", true)?;
                py.get_type::<PyInt>().call_method(
                    "from_bytes",
                    (PyBytes::new(py, &big.to_signed_le()), "little"),
                    Some(&kwargs),
                )?
            }
            Node::Float(f) => PyFloat::new(py, f).into_any(),
            Node::Str(text) => str_object(py, text)?,
            Node::Bytes(bytes) => PyBytes::new(py, bytes).into_any(),
            Node::ByteArray(bytes) => PyByteArray::new(py, bytes).into_any(),
            Node::Tuple(items) => PyTuple::new(py, self.values(items)?)?.into_any(),
            Node::FrozenSet(items) => PyFrozenSet::new(py, self.values(items)?)?.into_any(),
            Node::List(_) => PyList::empty(py).into_any(),
            Node::Dict(_) => PyDict::new(py).into_any(),
            Node::Set(_) => PySet::empty(py)?.into_any(),
            Node::Global(global) => self.global(&global.module, &global.name)?,
            Node::Object(object) => self.call(object)?,
            Node::Ext(code) => self.extension(code)?,
            Node::Buffer { index, readonly } => self.buffer(index, readonly)?,
            Node::PersId(pid) => self.persistent(pid)?,
        };
        if let Some(entry) = self.objects.get_mut(slot) {
            *entry = Some(object);
        }
        Ok(Progress::Done)
    }

    fn fill(&mut self, id: NodeId) -> PyResult<Progress> {
        let node = self.node(id)?;
        let waits = self
            .missing(std::iter::once(id))
            .or_else(|| self.missing((0..).map_while(|i| content(node, i))));
        if let Some(waits) = waits {
            return Ok(Progress::WaitsFor(waits));
        }
        let target = self.value(id)?;
        match node {
            Node::List(items) => {
                let list = target.downcast::<PyList>()?;
                for item in items {
                    list.append(self.value(*item)?)?;
                }
            }
            Node::Dict(pairs) => {
                let dict = target.downcast::<PyDict>()?;
                for (key, value) in pairs {
                    dict.set_item(self.value(*key)?, self.value(*value)?)?;
                }
            }
            Node::Set(items) => {
                let set = target.downcast::<PySet>()?;
                for item in items {
                    set.add(self.value(*item)?)?;
                }
            }
            Node::Object(object) => self.fill_object(&target, object)?,
            _ => {}
        }
        Ok(Progress::Done)
    }

    /// `find_class`: import the module and fetch the name, if the policy allows it.
    fn global(&self, module: &str, name: &str) -> PyResult<Bound<'py, PyAny>> {
        let py = self.py;
        if !self.supplied.policy.allows_global(module, name) {
            let message = format!("global {module}.{name} refused by policy");
            return Err(errors::forbidden(py, (module, name), None, None, &message));
        }
        py.import("sys")?
            .getattr("audit")?
            .call1(("pickle.find_class", module, name))?;
        let module_object = py.import(module)?.into_any();
        if self.supplied.protocol < 4 {
            return module_object.getattr(name);
        }
        let mut object = module_object.clone();
        for part in name.split('.') {
            if part == "<locals>" {
                return Err(PyAttributeError::new_err(format!(
                    "Can't get local attribute {name:?} on {}",
                    module_object.repr()?
                )));
            }
            object = object.getattr(part)?;
        }
        Ok(object)
    }

    /// REDUCE, NEWOBJ, NEWOBJ_EX, INST and OBJ, as `_pickle.c` makes them.
    fn call(&self, object: &Object) -> PyResult<Bound<'py, PyAny>> {
        let py = self.py;
        let callable = self.value(object.callable)?;
        let args = self.value(object.args)?;
        let args = args.downcast::<PyTuple>()?;
        match object.op {
            CallOp::Reduce => callable.call1(args),
            CallOp::NewObj | CallOp::NewObjEx => {
                if !callable.is_instance_of::<PyType>() {
                    return Err(errors::unpickling(
                        py,
                        "type_mismatch",
                        "NEWOBJ class argument isn't a type object",
                    ));
                }
                let kwargs = match object.kwargs {
                    Some(kwargs) => Some(self.value(kwargs)?.downcast_into::<PyDict>()?),
                    None => None,
                };
                let mut with_class = vec![callable.clone()];
                with_class.extend(args.iter());
                callable
                    .getattr("__new__")?
                    .call(PyTuple::new(py, with_class)?, kwargs.as_ref())
            }
            CallOp::Inst | CallOp::Obj => {
                let plain_new = args.is_empty()
                    && callable.is_instance_of::<PyType>()
                    && lookup(&callable, "__getinitargs__")?.is_none();
                if plain_new {
                    callable.getattr("__new__")?.call1((&callable,))
                } else {
                    callable.call1(args)
                }
            }
        }
    }

    /// APPENDS, SETITEMS and ADDITEMS onto an object, then its BUILD states.
    fn fill_object(&self, target: &Bound<'py, PyAny>, object: &Object) -> PyResult<()> {
        let py = self.py;
        if !object.listitems.is_empty() {
            let items = PyList::new(py, self.values(&object.listitems)?)?;
            if let Some(extend) = lookup(target, "extend")? {
                extend.call1((items,))?;
            } else {
                let append = target.getattr("append")?;
                for item in items.iter() {
                    append.call1((item,))?;
                }
            }
        }
        for (key, value) in &object.dictitems {
            target.set_item(self.value(*key)?, self.value(*value)?)?;
        }
        if !object.additems.is_empty() {
            let items = self.values(&object.additems)?;
            if let Ok(set) = target.downcast::<PySet>() {
                for item in items {
                    set.add(item)?;
                }
            } else {
                let add = target.getattr("add")?;
                for item in items {
                    add.call1((item,))?;
                }
            }
        }
        for state in &object.state {
            self.build_state(target, self.value(*state)?)?;
        }
        Ok(())
    }

    /// BUILD: `__setstate__(state)`, else the instance dict and slot attributes.
    fn build_state(&self, target: &Bound<'py, PyAny>, state: Bound<'py, PyAny>) -> PyResult<()> {
        let py = self.py;
        if let Some(setstate) = lookup(target, "__setstate__")? {
            setstate.call1((state,))?;
            return Ok(());
        }
        let (state, slot_state) = match state.downcast::<PyTuple>() {
            Ok(pair) if pair.len() == 2 => (pair.get_item(0)?, Some(pair.get_item(1)?)),
            _ => (state, None),
        };
        if !state.is_none() {
            let state = state.downcast::<PyDict>().map_err(|_| {
                errors::unpickling(py, "type_mismatch", "state is not a dictionary")
            })?;
            let instance_dict = target.getattr("__dict__")?;
            // `sys.intern` interns the key object itself (as `_pickle.c`'s
            // `PyUnicode_InternInPlace`), so a key the stream shares elsewhere
            // stays one object.
            let intern = py.import("sys")?.getattr("intern")?;
            for (key, value) in state.iter() {
                let key = if key.is_exact_instance_of::<PyString>() {
                    intern.call1((key,))?
                } else {
                    key
                };
                instance_dict.set_item(key, value)?;
            }
        }
        if let Some(slot_state) = slot_state {
            if slot_state.is_none() {
                return Ok(());
            }
            let slot_state = slot_state.downcast::<PyDict>().map_err(|_| {
                errors::unpickling(py, "type_mismatch", "slot state is not a dictionary")
            })?;
            for (key, value) in slot_state.iter() {
                target.setattr(key.downcast::<PyString>()?, value)?;
            }
        }
        Ok(())
    }

    /// EXT1/EXT2/EXT4: the name `copyreg` registered for the code, if the policy
    /// allows that global.
    fn extension(&self, code: u32) -> PyResult<Bound<'py, PyAny>> {
        let py = self.py;
        let registry = py.import("copyreg")?.getattr("_inverted_registry")?;
        let registry = registry.downcast::<PyDict>()?;
        let Some(pair) = registry.get_item(code)? else {
            return Err(PyValueError::new_err(format!(
                "unregistered extension code {code}"
            )));
        };
        let names: Option<(String, String)> = pair.extract().ok();
        let Some((module, name)) = names else {
            return Err(PyValueError::new_err(format!(
                "_inverted_registry[{code}] isn't a 2-tuple of strings"
            )));
        };
        if !self.supplied.policy.allows_global(&module, &name) {
            let message = format!("extension code {code} names {module}.{name}, refused by policy");
            return Err(errors::forbidden(
                py,
                (&module, &name),
                None,
                None,
                &message,
            ));
        }
        self.global(&module, &name)
    }

    /// NEXT_BUFFER (and READONLY_BUFFER): the caller's buffer of that position.
    fn buffer(&self, index: u64, readonly: bool) -> PyResult<Bound<'py, PyAny>> {
        let py = self.py;
        let Some(buffers) = &self.supplied.buffers else {
            return Err(errors::unpickling(
                py,
                "buffer_missing",
                "pickle stream refers to out-of-band data but no *buffers* argument was given",
            ));
        };
        let buffer = usize::try_from(index)
            .ok()
            .and_then(|i| buffers.get(i))
            .ok_or_else(|| {
                errors::unpickling(py, "buffer_missing", "not enough out-of-band buffers")
            })?;
        if !readonly {
            return Ok(buffer.clone());
        }
        let view = py
            .import("builtins")?
            .getattr("memoryview")?
            .call1((buffer,))?;
        if view.getattr("readonly")?.is_truthy()? {
            Ok(buffer.clone())
        } else {
            view.call_method0("toreadonly")
        }
    }

    /// PERSID/BINPERSID: the caller's `persistent_load(pid)`.
    fn persistent(&self, pid: NodeId) -> PyResult<Bound<'py, PyAny>> {
        match &self.supplied.persistent_load {
            Some(load) => load.call1((self.value(pid)?,)),
            None => Err(errors::unpickling(
                self.py,
                "persid_refused",
                "A load persistent id instruction was encountered, but no persistent_load \
                 function was specified.",
            )),
        }
    }
}

/// The `i`th child a value is made of (before it exists).
fn part(node: Node<'_>, i: usize) -> Option<NodeId> {
    match node {
        Node::Tuple(items) | Node::FrozenSet(items) => items.get(i).copied(),
        Node::Object(object) => [Some(object.callable), Some(object.args), object.kwargs]
            .into_iter()
            .flatten()
            .nth(i),
        Node::PersId(pid) => (i == 0).then_some(pid),
        _ => None,
    }
}

fn parts(node: Node<'_>) -> impl Iterator<Item = NodeId> + '_ {
    (0..).map_while(move |i| part(node, i))
}

/// The `i`th child that goes into a value after it exists.
fn content(node: Node<'_>, i: usize) -> Option<NodeId> {
    match node {
        Node::List(items) | Node::Set(items) => items.get(i).copied(),
        Node::Dict(pairs) => pairs
            .get(i / 2)
            .map(|(key, value)| if i % 2 == 0 { *key } else { *value }),
        Node::Object(object) => {
            // Positions run through the items, the pairs (two each), the added
            // items, then the states: found by subtraction, so a walk stays linear.
            let Some(i) = i.checked_sub(object.listitems.len()) else {
                return object.listitems.get(i).copied();
            };
            let pair_slots = object.dictitems.len().saturating_mul(2);
            let Some(i) = i.checked_sub(pair_slots) else {
                let (key, value) = object.dictitems.get(i / 2)?;
                return Some(if i % 2 == 0 { *key } else { *value });
            };
            let Some(i) = i.checked_sub(object.additems.len()) else {
                return object.additems.get(i).copied();
            };
            object.state.get(i).copied()
        }
        _ => None,
    }
}

/// A `str` from generalized UTF-8 (lone surrogates written as `surrogatepass` does).
fn str_object<'py>(py: Python<'py>, text: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    match std::str::from_utf8(text) {
        Ok(text) => Ok(PyString::new(py, text).into_any()),
        Err(_) => Ok(
            PyString::from_object(&PyBytes::new(py, text), "utf-8", "surrogatepass")?.into_any(),
        ),
    }
}

/// `getattr(object, name, None)`, as `_PyObject_LookupAttr`: only an
/// `AttributeError` means absent.
fn lookup<'py>(object: &Bound<'py, PyAny>, name: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
    match object.getattr(name) {
        Ok(found) => Ok(Some(found)),
        Err(err) if err.is_instance_of::<PyAttributeError>(object.py()) => Ok(None),
        Err(err) => Err(err),
    }
}

/// A call of a built-in reconstructor (`builtins.set`, `_codecs.encode`...) in a form
/// the decoder did not turn into a value: no pickler writes it, and calling it would
/// break the promise that the strict policy calls nothing (`_codecs.encode` with an
/// odd encoding name even imports a codec module), so it is refused.
fn unfolded(py: Python<'_>, module: &str, name: &str) -> PyErr {
    let reason = "a built-in reconstructor called with arguments no pickler writes";
    let message = format!("call of {module}.{name} refused: {reason}");
    errors::forbidden(py, (module, name), Some(reason), None, &message)
}

/// A graph no stream can make (a value that waits for itself): never expected from
/// the decoder, refused rather than looped on.
fn unbuildable(py: Python<'_>) -> PyErr {
    errors::unpickling(
        py,
        "unbuildable",
        "the decoded graph cannot be built in order",
    )
}
