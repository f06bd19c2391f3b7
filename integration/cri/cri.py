#!/usr/bin/env python3
"""One CRI call, made the way kubelet makes it: the generated `runtime.v1`
stubs of PyPI `container-runtime-interface-api` over gRPC on a unix socket.

    cri.py SOCKET METHOD  < request.json  > answer.json

METHOD is a `runtime.v1` RuntimeService or ImageService method
(`RunPodSandbox`, `CreateContainer`, `ExecSync`, `PullImage`, ...); the
request is its `<METHOD>Request` message as protobuf JSON (camelCase
field names, bytes base64). The answer is one JSON object on stdout:
`{"ok": RESPONSE}` or, when the call fails, `{"error": {"code": NAME,
"message": DETAILS}}` (the gRPC status kubelet would log). Exit 0 either
way; any other exit is a failure of the driver itself.
"""
import json
import sys

import grpc
from cri_api.v1 import api_pb2, api_pb2_grpc
from google.protobuf import json_format

IMAGE_METHODS = {"ListImages", "ImageStatus", "PullImage", "RemoveImage", "ImageFsInfo"}


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: cri.py SOCKET METHOD < request.json")
    socket, method = sys.argv[1], sys.argv[2]
    request_type = getattr(api_pb2, method + "Request", None)
    if request_type is None:
        sys.exit(f"no CRI method {method}")
    request = json_format.Parse(sys.stdin.read() or "{}", request_type())
    with grpc.insecure_channel("unix://" + socket) as channel:
        stub_type = api_pb2_grpc.ImageServiceStub if method in IMAGE_METHODS else api_pb2_grpc.RuntimeServiceStub
        call = getattr(stub_type(channel), method)
        try:
            response = call(request, timeout=120)
        except grpc.RpcError as e:
            answer = {"error": {"code": e.code().name, "message": e.details()}}
        else:
            answer = {"ok": json_format.MessageToDict(response, always_print_fields_with_no_presence=True)}
    json.dump(answer, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
