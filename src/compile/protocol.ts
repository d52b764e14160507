import type { PortProtocol } from "../ir/model.js";

/**
 * A Service port's protocol, by Istio's rules: appProtocol first, then the
 * port name's prefix (`http`, `http-web`, `grpc-api`...). Anything else is
 * TCP: Skiff does not sniff protocols, so an unnamed port gets no HTTP
 * features rather than a wrong guess.
 */
export function portProtocol(name: string | undefined, appProtocol: string | undefined): PortProtocol {
  const declared = (appProtocol ?? "").toLowerCase();
  if (declared !== "") return protocolOf(declared);
  const prefix = (name ?? "").toLowerCase().split("-")[0]!;
  return protocolOf(prefix);
}

function protocolOf(word: string): PortProtocol {
  switch (word) {
    case "http":
    case "grpc-web":
      return "HTTP";
    case "http2":
    case "grpc":
    case "h2c":
    case "kubernetes.io/h2c":
      return "HTTP2";
    default:
      return "TCP";
  }
}
