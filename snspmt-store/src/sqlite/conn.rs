//! The SQLite adapter of [`Conn`]: statements rewritten once per thread, prepared through
//! rusqlite's statement cache, rows copied out as values.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use rusqlite::Connection;

use crate::sql::{to_sqlite, Conn, Dialect, Param, Row};
use crate::{Change, StoreResult};

thread_local! {
    static REWRITTEN: RefCell<HashMap<(usize, usize), Rc<str>>> = RefCell::new(HashMap::new());
}

fn rewritten(sql: &'static str) -> Rc<str> {
    REWRITTEN.with(|m| {
        m.borrow_mut()
            .entry((sql.as_ptr() as usize, sql.len()))
            .or_insert_with(|| to_sqlite(sql).into())
            .clone()
    })
}

/// A SQLite connection, inside the writer's `IMMEDIATE` transaction or on a reader, and the
/// changes noted on it.
pub(crate) struct LiteConn<'a> {
    c: &'a mut Connection,
    pub(crate) changes: Vec<Change>,
}

impl<'a> LiteConn<'a> {
    pub(crate) fn new(c: &'a mut Connection) -> Self {
        LiteConn { c, changes: Vec::new() }
    }
    fn run_execute(&self, sql: &'static str, args: &[&dyn Param]) -> StoreResult<u64> {
        let mut st = self.c.prepare_cached(&rewritten(sql))?;
        let params = rusqlite::params_from_iter(args.iter().map(|a| a.lite()));
        if st.column_count() == 0 {
            return Ok(st.execute(params)? as u64);
        }
        // A statement with `RETURNING`: the rows it returns are the rows it changed.
        let mut rows = st.query(params)?;
        let mut n = 0;
        while rows.next()?.is_some() {
            n += 1;
        }
        Ok(n)
    }
}

impl Conn for LiteConn<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn note(&mut self, change: Change) {
        self.changes.push(change);
    }

    fn query_map<T: Send>(
        &mut self,
        sql: &'static str,
        args: &[&dyn Param],
        mut f: impl FnMut(Row) -> StoreResult<T> + Send,
    ) -> impl std::future::Future<Output = StoreResult<Vec<T>>> + Send {
        std::future::ready((|| {
            let mut st = self.c.prepare_cached(&rewritten(sql))?;
            let n = st.column_count();
            let mut rows = st.query(rusqlite::params_from_iter(args.iter().map(|a| a.lite())))?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(f(Row::Lite((0..n).map(|i| r.get(i)).collect::<Result<_, _>>()?))?);
            }
            Ok(out)
        })())
    }

    fn execute(
        &mut self,
        sql: &'static str,
        args: &[&dyn Param],
    ) -> impl std::future::Future<Output = StoreResult<u64>> + Send {
        std::future::ready(self.run_execute(sql, args))
    }

    fn batch(&mut self, sql: &str) -> impl std::future::Future<Output = StoreResult<()>> + Send {
        std::future::ready(self.c.execute_batch(sql).map_err(Into::into))
    }
}

/// Polls a future whose every step is synchronous (SQLite statements) to its end.
pub(crate) fn run_now<T>(fut: impl std::future::Future<Output = StoreResult<T>>) -> StoreResult<T> {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => {
            Err(crate::StoreError::Backend("a SQLite operation waited on something asynchronous".into()))
        }
    }
}
