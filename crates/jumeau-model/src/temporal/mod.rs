//! Building blocks of the NGSI-LD temporal API (ETSI GS CIM 009 §5.7.3, §6.18 to §6.22):
//! the temporal query parameters, ISO 8601 aggregation periods, calendar buckets in a time
//! zone, and the accumulators of the aggregated temporal representation (§4.5.19).
//!
//! Everything here is pure: the store reads attribute instances and feeds them to an
//! [`Accumulator`] per [`Bucket`]; the HTTP layer turns request parameters into a
//! [`TemporalQuery`] and the results into JSON.

pub mod aggregate;
pub mod bucket;
pub mod duration;
pub mod query;
pub mod render;

pub use aggregate::{Accumulator, AggrMethod, AggrValue};
pub use bucket::{
    bucket_start, buckets, parse_time_zone, Bucket, BucketGrid, Buckets, DEFAULT_TIME_ZONE,
};
pub use duration::{AggrPeriod, Duration};
pub use query::{TemporalQuery, TimeProperty, TimeRange, MAX_LAST_N};
