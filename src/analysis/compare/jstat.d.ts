// The part of jstat (which ships no types) the canary judge uses: the standard normal.
declare module "jstat" {
  export const jStat: {
    normal: {
      cdf(x: number, mean: number, std: number): number;
      inv(p: number, mean: number, std: number): number;
    };
  };
}
