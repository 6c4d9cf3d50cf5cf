// The enrollment's QR code into the page. The API draws it as SVG (made by the auth service:
// the secret never goes to a QR service); the page's policy allows images from its own
// prefix only (img-src 'self': no data: or blob: URL), so the SVG is parsed as XML and its
// nodes adopted into the page. XML parsing runs no script, and only drawing elements and
// attributes are kept: no handler, link, style or foreign content can come along.

const SVG = "http://www.w3.org/2000/svg";
const DRAWING = new Set(["svg", "g", "path", "rect", "title", "desc"]);
const KEPT = new Set(["xmlns", "width", "height", "viewBox", "class", "d", "transform", "stroke", "fill", "x", "y"]);

export function qrCode(svgText, label) {
  const parsed = new DOMParser().parseFromString(svgText, "image/svg+xml");
  const root = parsed.documentElement;
  if (root.namespaceURI !== SVG || root.localName !== "svg" || parsed.getElementsByTagName("parsererror").length) {
    throw new Error("The QR code could not be read: type the secret into your app instead.");
  }
  for (const element of [...root.querySelectorAll("*")]) {
    if (element.namespaceURI !== SVG || !DRAWING.has(element.localName)) element.remove();
  }
  for (const element of [root, ...root.querySelectorAll("*")]) {
    for (const { name } of [...element.attributes]) {
      if (!KEPT.has(name)) element.removeAttribute(name);
    }
  }
  // Drawn at whatever size the stylesheet gives it: the API's SVG names only its own.
  if (!root.hasAttribute("viewBox") && root.hasAttribute("width") && root.hasAttribute("height")) {
    root.setAttribute("viewBox", `0 0 ${root.getAttribute("width")} ${root.getAttribute("height")}`);
  }
  root.setAttribute("role", "img");
  root.setAttribute("aria-label", label);
  return document.adoptNode(root);
}
