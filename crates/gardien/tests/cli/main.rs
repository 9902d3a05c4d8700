//! The `gardien` binary driven as a user drives it, in temp dirs, with the real `age`
//! and `sqlite3` tools to check what it writes. One test binary, one module per feature.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed test is a panic
mod access;
mod acme;
mod bastion;
mod catalog;
mod common;
mod crash;
mod dataset;
mod demo;
mod drop;
mod fail2ban;
mod failures;
mod hardening;
mod init;
mod interop;
mod ledger;
mod lifecycle;
mod moodle;
mod notify;
mod people;
mod readme;
mod s3;
mod serve;
mod servers;
