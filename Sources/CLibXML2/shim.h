// libxml2 is built with ICU support, which makes its encoding.h include the system ICU headers; their
// definitions clash with the ICU copy that Foundation bundles when one Swift module imports both. Nothing
// here uses libxml2's ICU converters (the only declarations that depend on the flag are the converter
// fields of xmlCharEncodingHandler, which is only ever used through pointers), so the flag is cleared
// before the other headers are read.
#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/HTMLparser.h>
#include <libxml/xmlreader.h>
#include <libxml/xmlerror.h>
#include <libxml/tree.h>
