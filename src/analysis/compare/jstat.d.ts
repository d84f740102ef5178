// The part of jstat (which ships no types) the canary judge uses: the standard normal. It is a
// CommonJS module whose export is jStat itself, so Node's ESM gives it as the default export.
declare module "jstat" {
  const jStat: {
    normal: {
      cdf(x: number, mean: number, std: number): number;
      inv(p: number, mean: number, std: number): number;
    };
  };
  export default jStat;
}
