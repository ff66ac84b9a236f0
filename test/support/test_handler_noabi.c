/* A library that forgot EDGEFN_DECLARE_ABI(): loading must refuse it. */
#include <edgefn/handler.h>

__attribute__((visibility("default"))) int handle(const edgefn_call *call, const edgefn_event *event) {
  (void)event;
  return edgefn_set_body(call, "x", 1);
}
