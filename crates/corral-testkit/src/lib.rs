//! Test support: throwaway databases, running servers, SDK drivers.
