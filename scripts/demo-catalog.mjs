/**
 * The demo catalog `npm start` seeds into an empty database: 60 products over 5 categories, 1-4
 * variants each, integer minor-unit prices, stock for every SKU, and one single-SKU flash-sale product.
 * Deterministic, so every fresh machine gets the same shop.
 */
export const FLASH_SALE = { slug: "flash-sale-sneaker", sku: "FLASH-SNEAKER", stock: 100 };

const categories = {
  apparel: {
    nouns: [
      "Tee",
      "Hoodie",
      "Overshirt",
      "Chinos",
      "Cardigan",
      "Rain Jacket",
      "Polo",
      "Crewneck",
      "Beanie",
      "Scarf",
      "Denim Jacket",
      "Joggers",
    ],
    options: [{ size: "S" }, { size: "M" }, { size: "L" }, { size: "XL" }],
  },
  footwear: {
    nouns: [
      "Runner",
      "Trail Shoe",
      "Loafer",
      "Chelsea Boot",
      "Court Sneaker",
      "Sandal",
      "Hiking Boot",
      "Slip-On",
      "High-Top",
      "Clog",
      "Derby",
      "Mule",
    ],
    options: [{ size: "40" }, { size: "41" }, { size: "42" }, { size: "43" }],
  },
  home: {
    nouns: [
      "Mug",
      "Throw Blanket",
      "Desk Lamp",
      "Planter",
      "Candle",
      "Cutting Board",
      "Pour-Over Kettle",
      "Linen Napkins",
      "Wall Clock",
      "Vase",
      "Doormat",
      "Pillow Cover",
    ],
    options: [{ color: "Sand" }, { color: "Charcoal" }, { color: "Sage" }, { color: "Rust" }],
  },
  electronics: {
    nouns: [
      "Earbuds",
      "Power Bank",
      "USB-C Hub",
      "Desk Speaker",
      "Webcam",
      "Keyboard",
      "Mouse",
      "Charging Stand",
      "Smart Plug",
      "E-Reader Case",
      "Headphones",
      "Cable Kit",
    ],
    options: [{ color: "Black" }, { color: "White" }, { color: "Blue" }, { color: "Graphite" }],
  },
  outdoors: {
    nouns: [
      "Water Bottle",
      "Daypack",
      "Camp Chair",
      "Headlamp",
      "Sleeping Pad",
      "Trekking Poles",
      "Rain Fly",
      "Cooler",
      "Hammock",
      "Stove",
      "Dry Bag",
      "Thermos",
    ],
    options: [{ capacity: "0.5 L" }, { capacity: "1 L" }, { capacity: "1.5 L" }, { capacity: "2 L" }],
  },
};

const adjectives = [
  "Classic",
  "Everyday",
  "Summit",
  "Harbor",
  "Nordic",
  "Coastal",
  "Urban",
  "Field",
  "Studio",
  "Heritage",
  "Lumen",
  "Drift",
];

/** A small fixed-seed generator: the same catalog on every machine. */
function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

const slugify = (text) =>
  text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "");

/**
 * `imagesAt`: the origin the shop is served from; the demo images are its own (each product's drawn
 * from its slug at /images/products, the flash sale's a static asset), so the shop looks right offline.
 */
export function demoCatalog(imagesAt = "http://localhost:8787") {
  const next = random(42);
  const products = [];
  for (const [category, { nouns, options }] of Object.entries(categories)) {
    nouns.forEach((noun, index) => {
      const title = `${adjectives[index % adjectives.length]} ${noun}`;
      const slug = slugify(title);
      const base = 900 + Math.floor(next() * 180) * 50 - 1;
      const variantCount = 1 + Math.floor(next() * 4);
      const variants = options.slice(0, variantCount).map((attributes, position) => ({
        sku: `${category.slice(0, 3).toUpperCase()}-${String(index + 1).padStart(2, "0")}-${position + 1}`,
        title: Object.values(attributes)[0],
        price: { amount: base + position * 200, currency: "USD" },
        attributes,
        stock: 10 + Math.floor(next() * 190),
      }));
      products.push({
        slug,
        title,
        description: `The ${title.toLowerCase()}: made to last, priced to move.`,
        category,
        // Each product its own picture, drawn by the worker from the slug.
        images: [`${imagesAt}/images/products/${slug}.svg`],
        variants,
      });
    });
  }
  products.push({
    slug: FLASH_SALE.slug,
    title: "Flash Sale Sneaker",
    description: "One colour, one size run, one hundred pairs. When they are gone, they are gone.",
    category: "footwear",
    images: [`${imagesAt}/images/demo/flash-sale.svg`],
    variants: [
      {
        sku: FLASH_SALE.sku,
        title: "Limited edition",
        price: { amount: 4999, currency: "USD" },
        attributes: { edition: "limited" },
        stock: FLASH_SALE.stock,
      },
    ],
  });
  return products;
}
