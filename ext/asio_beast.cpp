// The separately compiled implementations of Boost.Asio (with SSL) and
// Boost.Beast. Every target links this instead of compiling them itself.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
