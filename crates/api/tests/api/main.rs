//! HTTP-level tests of the admin API, on every backend under test.

mod common;
mod health;
mod jobs;
mod keystone;
mod legacy;
mod openapi;
mod pods;
mod root;
mod routings;
mod stock;
mod unstorable;
